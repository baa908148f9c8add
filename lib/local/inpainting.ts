/**
 * Inpainting inputs, prepared as diffusers' ONNX pipelines prepare them: the mask is read as grey
 * (PIL's "L": 299/587/114 per mille of R, G, B), white = repaint. OnnxStableDiffusionInpaintPipeline
 * blanks the repainted pixels of the image (grey >= 127.5) and gives a 9-channel UNet the latents,
 * the mask at latent size (nearest, 0 or 1) and the blanked image's latents. For a 4-channel UNet,
 * OnnxStableDiffusionInpaintPipelineLegacy puts the kept latents back after every step.
 */

/** Grey levels (0 to 255) of packed RGB pixels, as PIL's convert("L"). */
export function greyOf(rgb: Uint8Array): Float32Array {
  const grey = new Float32Array(rgb.length / 3);
  for (let i = 0; i < grey.length; i++) grey[i] = (rgb[i * 3] * 299 + rgb[i * 3 + 1] * 587 + rgb[i * 3 + 2] * 114) / 1000;
  return grey;
}

/** The image's planes ([-1, 1], NCHW) with the pixels to repaint set to 0. */
export function blankRepainted(planes: Float32Array, grey: Float32Array): Float32Array {
  const pixels = grey.length;
  return planes.map((value, index) => ((grey[index % pixels] as number) >= 127.5 ? 0 : value));
}

/** The mask at latent size, 1 = repaint: the nearest pixel of each 8 x 8 block (PIL NEAREST), binarised at one half. */
export function latentMask(grey: Float32Array, width: number, height: number): Float32Array {
  const latentWidth = width / 8;
  const latentHeight = height / 8;
  const mask = new Float32Array(latentWidth * latentHeight);
  for (let y = 0; y < latentHeight; y++) {
    for (let x = 0; x < latentWidth; x++) mask[y * latentWidth + x] = (grey[(y * 8 + 4) * width + x * 8 + 4] as number) / 255 >= 0.5 ? 1 : 0;
  }
  return mask;
}

/** A 9-channel UNet's input: each batch entry's latents, then the mask, then the blanked image's latents. */
export function inpaintingInput(latents: Float32Array, batch: number, mask: Float32Array, maskedLatents: Float32Array): Float32Array {
  const perEntry = latents.length / batch;
  const out = new Float32Array(batch * (perEntry + mask.length + maskedLatents.length));
  let offset = 0;
  for (let entry = 0; entry < batch; entry++) {
    out.set(latents.subarray(entry * perEntry, (entry + 1) * perEntry), offset);
    out.set(mask, (offset += perEntry));
    out.set(maskedLatents, (offset += mask.length));
    offset += maskedLatents.length;
  }
  return out;
}

/** Latents with the kept part (mask 0) replaced by the image's, noised to the current step. */
export function keepUnmasked(latents: Float32Array, imageLatents: Float32Array, mask: Float32Array): Float32Array {
  const pixels = mask.length;
  return latents.map((value, index) => ((mask[index % pixels] as number) === 0 ? (imageLatents[index] as number) : value));
}

import assert from 'node:assert/strict';
import fs from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { InferenceSession, Tensor } from 'onnxruntime-node';
import { readModelFolder } from '../../../lib/local/model-folder';
import { settleGeneration } from '../../../lib/local/params';
import { generate, guidanceEmbedding } from '../../../lib/local/pipeline';
import type { LoadedModel } from '../../../lib/local/pipeline';
import type { OnnxRuntime } from '../../../lib/local/tensors';
import { ClipTokenizer } from '../../../lib/local/tokenizer';
import { writeTinyModel } from '../../../lib/sandbox/tiny-sd';
import type { TinyModelOptions } from '../../../lib/sandbox/tiny-sd';
import { encodePng } from '../../../lib/storage/png';
import { readPngText } from '../../../lib/storage/png-text';
import { REPO_ROOT } from '../../../scripts/node-red-home';
import { pngSize, rgbOf } from '../../support/png';

const ort = require('onnxruntime-node') as OnnxRuntime;

interface Recorded {
  unet: Array<Record<string, Tensor>>;
  textEncoder: number;
}

/** Opens a model in this process, recording what the pipeline feeds its UNet. */
async function open(dir: string): Promise<{ model: LoadedModel; calls: Recorded }> {
  const folder = await readModelFolder(dir);
  const calls: Recorded = { unet: [], textEncoder: 0 };
  const session = (file: string): Promise<InferenceSession> => ort.InferenceSession.create(file);
  const unet = await session(folder.unet);
  const textEncoder = await session(folder.textEncoder);
  const spy = <T extends InferenceSession>(target: T, record: (feeds: Record<string, Tensor>) => void): T =>
    new Proxy(target, {
      get: (object, property) =>
        property === 'run' ? (feeds: Record<string, Tensor>) => (record(feeds), object.run(feeds)) : Reflect.get(object, property, object),
    });
  return {
    calls,
    model: {
      folder,
      tokenizer: new ClipTokenizer(folder.tokenizer),
      textEncoder: spy(textEncoder, () => calls.textEncoder++),
      unet: spy(unet, (feeds) => calls.unet.push(feeds)),
      vaeDecoder: await session(folder.vaeDecoder),
      vaeEncoder: folder.vaeEncoder ? await session(folder.vaeEncoder) : undefined,
    },
  };
}

const hooks = { checkpoint: async () => undefined, onStep: () => undefined };

describe('local pipeline', function () {
  this.timeout(30_000);
  let root: string;
  before(async () => (root = await mkdtemp(path.join(os.tmpdir(), 'pipeline-'))));
  after(() => rm(root, { recursive: true, force: true }));
  let count = 0;
  const model = async (options: TinyModelOptions = {}): Promise<{ model: LoadedModel; calls: Recorded }> =>
    open(await writeTinyModel(path.join(root, `m${count++}`), options));

  it('makes a PNG of the requested size with the parameters text save-image writes', async () => {
    const { model: loaded } = await model();
    const settings = settleGeneration('a red house in the snow', { width: 96, height: 64, seed: 5, num_inference_steps: 3, negative_prompt: 'blurry' });
    const output = await generate(ort, loaded, settings, hooks);
    assert.deepEqual(pngSize(output.png), { width: 96, height: 64 });
    assert.equal(
      readPngText(output.png).parameters,
      'a red house in the snow\nNegative prompt: blurry\nSteps: 3, Sampler: Euler, CFG scale: 7.5, Seed: 5, Size: 96x64, Model: m0',
    );
    const rgb = rgbOf(output.png);
    assert.ok(new Set(rgb).size > 8, 'the image is not one flat colour');
    assert.ok(output.timings.onnxMs > 0 && output.timings.onnxMs <= output.timings.totalMs);
  });

  it('is reproducible: the same seed gives identical bytes, another seed or prompt different ones', async () => {
    const { model: loaded } = await model();
    const run = (prompt: string, seed: number) =>
      generate(ort, loaded, settleGeneration(prompt, { width: 64, height: 64, seed, num_inference_steps: 4, scheduler: 'euler_a' }), hooks).then(
        (out) => out.png,
      );
    const first = await run('a cat', 1);
    assert.deepEqual(await run('a cat', 1), first);
    assert.notDeepEqual(await run('a cat', 2), first);
    assert.notDeepEqual(await run('a dog', 1), first);
  });

  it('runs uncond and cond in one UNet call when the batch is dynamic, two when fixed, one unguided', async () => {
    const settings = (guidance: number) => settleGeneration('a cat', { width: 64, height: 64, seed: 1, num_inference_steps: 3, guidance_scale: guidance });
    const dynamic = await model({ dynamicBatch: true });
    await generate(ort, dynamic.model, settings(7.5), hooks);
    assert.deepEqual(
      dynamic.calls.unet.map((feeds) => feeds.sample.dims[0]),
      [2, 2, 2],
    );
    assert.equal(dynamic.calls.textEncoder, 2);
    const fixed = await model({ dynamicBatch: false });
    await generate(ort, fixed.model, settings(7.5), hooks);
    assert.deepEqual(
      fixed.calls.unet.map((feeds) => feeds.sample.dims[0]),
      [1, 1, 1, 1, 1, 1],
    );
    const unguided = await model({ dynamicBatch: true });
    await generate(ort, unguided.model, settings(1), hooks);
    assert.deepEqual(
      unguided.calls.unet.map((feeds) => feeds.sample.dims[0]),
      [1, 1, 1],
    );
    assert.equal(unguided.calls.textEncoder, 1, 'no negative prompt is encoded without guidance');
  });

  it('runs a UNet exported with a fixed batch of 2, guided and unguided', async () => {
    const settings = (guidance: number) => settleGeneration('a cat', { width: 64, height: 64, seed: 1, num_inference_steps: 3, guidance_scale: guidance });
    for (const guidance of [7.5, 1]) {
      const two = await model({ fixedBatchOfTwo: true });
      const { png } = await generate(ort, two.model, settings(guidance), hooks);
      assert.deepEqual(pngSize(png), { width: 64, height: 64 });
      assert.deepEqual(
        two.calls.unet.map((feeds) => feeds.sample.dims[0]),
        [2, 2, 2],
        `guidance ${guidance}`,
      );
    }
  });

  it('sends one timestep for the whole batch to a UNet that declares its timestep [1]', async () => {
    const one = await model({ timestepOfOne: true });
    const { png } = await generate(
      ort,
      one.model,
      settleGeneration('a cat', { width: 64, height: 64, seed: 1, num_inference_steps: 2, guidance_scale: 7.5 }),
      hooks,
    );
    assert.deepEqual(pngSize(png), { width: 64, height: 64 });
    assert.deepEqual(
      one.calls.unet.map((feeds) => [feeds.sample.dims[0], ...feeds.timestep.dims]),
      [
        [2, 1],
        [2, 1],
      ],
    );
  });

  it('feeds an LCM-distilled UNet the guidance embedding diffusers computes, in one pass per step', async () => {
    const embeddings = (
      JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'test', 'fixtures', 'diffusers', 'schedules.json'), 'utf8')) as {
        guidanceEmbedding: Array<{ guidance: number; dim: number; values: number[] }>;
      }
    ).guidanceEmbedding;
    for (const { guidance, dim, values } of embeddings) {
      Array.from(guidanceEmbedding(guidance, dim)).forEach((value, index) =>
        assert.ok(Math.abs(value - (values[index] as number)) < 1e-5, `guidance ${guidance}, width ${dim}, [${index}]: ${value} vs ${values[index]}`),
      );
    }
    const lcm = await model({ timestepCond: 8, scheduler: { _class_name: 'LCMScheduler' } });
    const { png } = await generate(
      ort,
      lcm.model,
      settleGeneration('a cat', { width: 64, height: 64, seed: 1, num_inference_steps: 4, guidance_scale: 8.5 }),
      hooks,
    );
    assert.deepEqual(pngSize(png), { width: 64, height: 64 });
    assert.deepEqual(
      lcm.calls.unet.map((feeds) => feeds.sample.dims[0]),
      [1, 1, 1, 1],
      'guidance is in the embedding: no unconditional pass',
    );
    const fed = await (lcm.calls.unet[0]?.timestep_cond as Tensor).getData();
    Array.from(fed as Float32Array).forEach((value, index) =>
      assert.ok(Math.abs(value - (embeddings[0]?.values[index] as number)) < 1e-5, `timestep_cond[${index}]`),
    );
    assert.equal(lcm.calls.textEncoder, 1, 'no negative prompt is encoded');
  });

  it("builds every input from the model's declared types: ids int32/int64, timestep int64/float/scalar/fp16", async () => {
    const variants: Array<[TinyModelOptions, string, number[]]> = [
      [{ ids: 'int32', timestep: 'int64' }, 'int64', [2]],
      [{ ids: 'int64', timestep: 'float' }, 'float32', [2]],
      [{ timestep: 'scalar' }, 'float32', []],
      [{ precision: 'fp16' }, 'float16', [2]],
      [{ externalData: true, dynamicBatch: false }, 'int64', [1]],
    ];
    for (const [options, timestepType, timestepDims] of variants) {
      const { model: loaded, calls } = await model(options);
      const output = await generate(ort, loaded, settleGeneration('a cat', { width: 64, height: 64, seed: 3, num_inference_steps: 2 }), hooks);
      const feeds = calls.unet[0];
      assert.equal(feeds.timestep.type, timestepType, JSON.stringify(options));
      assert.deepEqual(feeds.timestep.dims, timestepDims, JSON.stringify(options));
      assert.equal(feeds.sample.type, options.precision === 'fp16' ? 'float16' : 'float32');
      assert.deepEqual(pngSize(output.png), { width: 64, height: 64 });
    }
  });

  it('runs every scheduler, SD 2.x v-prediction and SD-Turbo (1 step, guidance 0)', async () => {
    const sd2 = await model({ padToken: '!', scheduler: { prediction_type: 'v_prediction' } });
    for (const scheduler of ['euler', 'euler_a', 'ddim', 'dpmpp_2m', 'dpmpp_2m_karras', 'lcm'] as const) {
      const output = await generate(ort, sd2.model, settleGeneration('a cat', { width: 64, height: 64, seed: 3, num_inference_steps: 4, scheduler }), hooks);
      assert.equal(output.scheduler, scheduler);
      assert.ok(
        rgbOf(output.png).some((value) => value > 0 && value < 255),
        scheduler,
      );
    }
    const turbo = await model({ scheduler: { _class_name: 'EulerDiscreteScheduler', timestep_spacing: 'trailing', steps_offset: 0 } });
    const output = await generate(
      ort,
      turbo.model,
      settleGeneration('a cat', { width: 64, height: 64, seed: 3, num_inference_steps: 1, guidance_scale: 0 }),
      hooks,
    );
    assert.equal(turbo.calls.unet.length, 1);
    assert.deepEqual(Array.from(turbo.calls.unet[0].timestep.data as BigInt64Array), [999n]);
    assert.equal(output.scheduler, 'euler');
  });

  it('runs img2img from the strength: 10 steps at 0.5 run the last 5, starting from the encoded image', async () => {
    const { model: loaded, calls } = await model();
    const start = await generate(ort, loaded, settleGeneration('a cat', { width: 64, height: 64, seed: 9, num_inference_steps: 2 }), hooks);
    calls.unet.length = 0;
    const steps: number[] = [];
    const edit = await generate(
      ort,
      loaded,
      settleGeneration('a cat', { width: 64, height: 64, seed: 9, num_inference_steps: 10, strength: 0.5, image: start.png }),
      { ...hooks, onStep: (step, total) => steps.push(step, total) },
    );
    assert.equal(calls.unet.length, 5);
    assert.deepEqual(steps.slice(-2), [5, 5]);
    assert.match(readPngText(edit.png).parameters, /Steps: 10/);
    const noEncoder = await model({ vaeEncoder: false });
    await assert.rejects(
      generate(ort, noEncoder.model, settleGeneration('a cat', { width: 64, height: 64, image: start.png }), hooks),
      /has no vae_encoder, which img2img needs/,
    );
    await assert.rejects(
      generate(ort, loaded, settleGeneration('a cat', { width: 64, height: 64, num_inference_steps: 1, strength: 0.5, image: start.png }), hooks),
      /leaves no step to run/,
    );
    await assert.rejects(
      generate(ort, loaded, settleGeneration('a cat', { width: 64, height: 64, image: Buffer.from('not an image') }), hooks),
      /params.image could not be read as an image/,
    );
  });

  it('says when a VAE encoder samples inside its graph, which makes img2img differ for one seed', async () => {
    const settings = (image: Buffer) => settleGeneration('a cat', { width: 64, height: 64, seed: 9, num_inference_steps: 4, strength: 0.5, image });
    const plain = await model();
    const input = (await generate(ort, plain.model, settleGeneration('a cat', { width: 64, height: 64, seed: 3, num_inference_steps: 2 }), hooks)).png;
    const first = await generate(ort, plain.model, settings(input), hooks);
    const second = await generate(ort, plain.model, settings(input), hooks);
    assert.deepEqual(first.warnings, []);
    assert.deepEqual(second.png, first.png, 'a deterministic encoder: the same seed gives the same image');
    const sampling = await model({ samplingEncoder: true });
    const a = await generate(ort, sampling.model, settings(input), hooks);
    const b = await generate(ort, sampling.model, settings(input), hooks);
    assert.notDeepEqual(a.png, b.png);
    assert.match(a.warnings.join(), /vae_encoder that samples inside its graph, so img2img gives a different image each time for the same seed/);
    assert.equal(b.warnings.length, 1, 'still said for later messages (local-sd shows it once)');
  });

  /** A 64 x 64 mask PNG: white (repaint) where `repaint(x, y)`, black elsewhere. */
  const maskPng = (repaint: (x: number, y: number) => boolean): Buffer => {
    const rgb = new Uint8Array(64 * 64 * 3);
    for (let y = 0; y < 64; y++) for (let x = 0; x < 64; x++) rgb.fill(repaint(x, y) ? 255 : 0, (y * 64 + x) * 3, (y * 64 + x) * 3 + 3);
    return encodePng(rgb, 64, 64);
  };

  it("inpaints with a 9-channel UNet: latents, the mask and the blanked image's latents, as diffusers prepares them", async () => {
    const plain = await model();
    const image = (await generate(ort, plain.model, settleGeneration('a cat', { width: 64, height: 64, seed: 3, num_inference_steps: 2 }), hooks)).png;
    const inpainting = await model({ inpainting: true });
    const mask = maskPng((x) => x < 32);
    const { png } = await generate(
      ort,
      inpainting.model,
      settleGeneration('a dog', { width: 64, height: 64, seed: 4, num_inference_steps: 3, image, mask }),
      hooks,
    );
    assert.deepEqual(pngSize(png), { width: 64, height: 64 });
    const feed = inpainting.calls.unet[0]?.sample as Tensor;
    assert.deepEqual(feed.dims, [2, 9, 8, 8]);
    const values = (await feed.getData()) as Float32Array;
    // Channel 4 of each batch entry: the mask at latent size, left half 1 (repaint).
    const maskChannel = Array.from(values.subarray(4 * 64, 5 * 64));
    assert.deepEqual(
      maskChannel,
      Array.from({ length: 64 }, (_, index) => (index % 8 < 4 ? 1 : 0)),
    );
    // Channels 5 to 8: the VAE encoder's latents of the image with its left half set to 0 (grey), scaled.
    const rgb = rgbOf(image);
    const planes = new Float32Array(3 * 64 * 64);
    for (let c = 0; c < 3; c++) for (let i = 0; i < 64 * 64; i++) planes[c * 4096 + i] = i % 64 < 32 ? 0 : (rgb[i * 3 + c] as number) / 127.5 - 1;
    const encoder = inpainting.model.vaeEncoder as InferenceSession;
    const encoded = (await encoder.run({ sample: new ort.Tensor('float32', planes, [1, 3, 64, 64]) }))[encoder.outputNames[0] as string] as Tensor;
    const expected = Array.from((await encoded.getData()) as Float32Array, (value) => value * inpainting.model.folder.vaeScalingFactor);
    Array.from(values.subarray(5 * 64, 9 * 64)).forEach((value, index) =>
      assert.ok(Math.abs(value - (expected[index] as number)) < 1e-5, `masked latent ${index}`),
    );
    await assert.rejects(
      generate(ort, inpainting.model, settleGeneration('a dog', { width: 64, height: 64, image }), hooks),
      /is an inpainting model \(its UNet takes 9 channels\): give params.image and params.mask/,
    );
    assert.throws(() => settleGeneration('a dog', { mask }), /params.mask needs params.image/);
  });

  it('inpaints with a 4-channel UNet by putting the kept latents back after each step', async () => {
    const { model: loaded } = await model();
    const image = (await generate(ort, loaded, settleGeneration('a cat', { width: 64, height: 64, seed: 3, num_inference_steps: 2 }), hooks)).png;
    const run = (mask?: Buffer) =>
      generate(
        ort,
        loaded,
        settleGeneration('a dog', { width: 64, height: 64, seed: 4, num_inference_steps: 6, strength: 0.8, image, ...(mask ? { mask } : {}) }),
        hooks,
      );
    const unmasked = (await run()).png;
    assert.deepEqual((await run(maskPng(() => true))).png, unmasked, 'an all-white mask repaints everything: plain img2img');
    const keepAll = rgbOf((await run(maskPng(() => false))).png);
    assert.notDeepEqual(keepAll, rgbOf(unmasked));
    const left = rgbOf((await run(maskPng((x) => x < 32))).png);
    // This tiny model works pixel by pixel: the kept right half is the same as when everything is kept.
    for (let y = 0; y < 64; y++) {
      for (let x = 32; x < 64; x++) assert.equal(left[(y * 64 + x) * 3], keepAll[(y * 64 + x) * 3], `kept pixel ${x},${y}`);
    }
  });

  it('stops between steps when the checkpoint throws', async () => {
    const { model: loaded, calls } = await model();
    let checkpoints = 0;
    const stopping = {
      checkpoint: async () => {
        if (++checkpoints === 3) throw new Error('stop here');
      },
      onStep: () => undefined,
    };
    await assert.rejects(generate(ort, loaded, settleGeneration('a cat', { width: 64, height: 64, num_inference_steps: 10 }), stopping), /stop here/);
    assert.equal(calls.unet.length, 2);
  });
});

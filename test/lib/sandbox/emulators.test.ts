import assert from 'node:assert/strict';
import { request } from 'undici';
import { SANDBOX_ACCOUNT_ID, SANDBOX_API_KEY, startSandbox } from '../../../lib/sandbox';
import type { SandboxServer } from '../../../lib/sandbox';
import { waitFor } from '../../support/net';
import { startWebhookReceiver } from '../../support/webhook-receiver';

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- emulator answers are read field by field
  json: () => Record<string, any>;
  bytes: Buffer;
}

async function call(url: string, init: { method?: string; headers?: Record<string, string>; body?: unknown } = {}): Promise<Answer> {
  const answer = await request(url, {
    method: (init.method ?? (init.body === undefined ? 'GET' : 'POST')) as 'GET',
    headers: { 'content-type': 'application/json', ...init.headers },
    body: init.body === undefined ? undefined : typeof init.body === 'string' ? init.body : JSON.stringify(init.body),
  });
  const bytes = Buffer.from(await answer.body.arrayBuffer());
  return { status: answer.statusCode, headers: answer.headers, bytes, json: () => JSON.parse(bytes.toString('utf8')) };
}

const bearer = { authorization: `Bearer ${SANDBOX_API_KEY}` };
const piapiKey = { 'x-api-key': SANDBOX_API_KEY };

describe('lib/sandbox emulators', () => {
  let sandbox: SandboxServer;
  beforeEach(async () => {
    sandbox = await startSandbox({ jobDurationMs: 200 });
  });
  afterEach(async () => {
    await sandbox.close();
  });

  describe('PixelDojo /flux', () => {
    it('answers images, credits used and remaining, and serves real PNGs', async () => {
      const answer = await call(`${sandbox.baseUrl('pixeldojo')}/flux`, {
        headers: bearer,
        body: { prompt: 'a red fox', model: 'flux-1.1-pro-ultra', num_outputs: 2, aspect_ratio: '16:9', seed: 42 },
      });
      assert.equal(answer.status, 200);
      const body = answer.json();
      assert.equal(body.images.length, 2);
      assert.equal(body.credits_used, 3);
      assert.equal(body.credits_remaining, 997);
      const image = await call(body.images[0]);
      assert.equal(image.headers['content-type'], 'image/png');
      assert.equal(image.bytes.readUInt32BE(16), 1344);
      assert.equal(image.bytes.readUInt32BE(20), 768);
    });

    it('answers the documented error bodies: 401 without a key, 400 on bad input, 403 without credits', async () => {
      const noKey = await call(`${sandbox.baseUrl('pixeldojo')}/flux`, { body: { prompt: 'x' } });
      assert.equal(noKey.status, 401);
      assert.deepEqual(noKey.json().error.code, 'unauthorized');
      const bad = await call(`${sandbox.baseUrl('pixeldojo')}/flux`, { headers: bearer, body: { prompt: 'x', model: 'flux-pro', raw: true } });
      assert.equal(bad.status, 400);
      assert.equal(bad.json().error.code, 'validation_error');
      const badJson = await call(`${sandbox.baseUrl('pixeldojo')}/flux`, { headers: bearer, body: '{nope' });
      assert.equal(badJson.json().error.code, 'invalid_json');
      sandbox.credits = 0.5;
      const poor = await call(`${sandbox.baseUrl('pixeldojo')}/flux`, { headers: bearer, body: { prompt: 'x' } });
      assert.equal(poor.status, 403);
      assert.equal(poor.json().error.code, 'insufficient_credits');
    });
  });

  describe('PixelDojo async jobs', () => {
    it('lists models publicly and describes each with a requestSchema', async () => {
      const list = (await call(`${sandbox.baseUrl('pixeldojo')}/models`)).json();
      assert.ok(list.models.some((model: { apiId: string; creditCost: number }) => model.apiId === 'flux-1.1-pro' && model.creditCost === 1));
      const detail = (await call(`${sandbox.baseUrl('pixeldojo')}/models/flux-1.1-pro`)).json();
      assert.equal(detail.requestSchema.type, 'object');
      assert.deepEqual(detail.requestSchema.required, ['prompt']);
    });

    it('runs a job from pending through processing to completed, and delivers the webhook', async () => {
      const receiver = await startWebhookReceiver();
      try {
        const submitted = await call(`${sandbox.baseUrl('pixeldojo')}/models/flux-1.1-pro/run`, {
          headers: bearer,
          body: { prompt: 'a sunset', aspect_ratio: '1:1', webhook_url: receiver.url },
        });
        assert.equal(submitted.status, 202);
        const { jobId, status, statusUrl, creditCost } = submitted.json();
        assert.equal(status, 'pending');
        assert.equal(creditCost, 1);
        assert.equal((await call(statusUrl, { headers: bearer })).json().status, 'pending');
        await new Promise((resolve) => setTimeout(resolve, 120));
        assert.equal((await call(statusUrl, { headers: bearer })).json().status, 'processing');
        await waitFor(() => receiver.received.length === 1, 2000, 'webhook');
        const done = (await call(statusUrl, { headers: bearer })).json();
        assert.equal(done.status, 'completed');
        assert.equal(done.output.images.length, 1);
        assert.ok(done.expiresAt);
        assert.equal((receiver.received[0].body as { jobId: string }).jobId, jobId);
        const listed = (await call(`${sandbox.baseUrl('pixeldojo')}/jobs?limit=5`, { headers: bearer })).json();
        assert.equal(listed.jobs[0].jobId, jobId);
      } finally {
        await receiver.close();
      }
    });

    it('answers assets[] for editing models, and scripted fail / expire / never outcomes', async () => {
      sandbox.scriptJobs('pixeldojo', { outcome: 'complete' }, { outcome: 'fail' }, { outcome: 'expire' }, { outcome: 'never' });
      const run = async (model: string) =>
        (await call(`${sandbox.baseUrl('pixeldojo')}/models/${model}/run`, { headers: bearer, body: { prompt: 'p' } })).json().jobId as string;
      const ids = [await run('flux-kontext-pro'), await run('flux-dev'), await run('flux-dev'), await run('flux-dev')];
      await new Promise((resolve) => setTimeout(resolve, 260));
      const job = (id: string) => call(`${sandbox.baseUrl('pixeldojo')}/jobs/${id}`, { headers: bearer });
      assert.equal((await job(ids[0])).json().assets[0].type, 'image');
      const failed = (await job(ids[1])).json();
      assert.equal(failed.status, 'failed');
      assert.ok(failed.error.message);
      const expired = await job(ids[2]);
      assert.equal(expired.status, 410);
      assert.equal(expired.json().error.code, 'expired');
      assert.equal((await job(ids[3])).json().status, 'processing');
    });

    it('takes a job outcome from a [sandbox:...] tag in the prompt', async () => {
      const { jobId } = (await call(`${sandbox.baseUrl('pixeldojo')}/models/flux-dev/run`, { headers: bearer, body: { prompt: 'cat [sandbox:fail]' } })).json();
      await new Promise((resolve) => setTimeout(resolve, 220));
      assert.equal((await call(`${sandbox.baseUrl('pixeldojo')}/jobs/${jobId}`, { headers: bearer })).json().status, 'failed');
    });

    it('checks run bodies against the model schema and charges 402 when credits run out', async () => {
      const unknown = await call(`${sandbox.baseUrl('pixeldojo')}/models/flux-dev/run`, { headers: bearer, body: { prompt: 'p', steps: 3 } });
      assert.equal(unknown.status, 400);
      assert.match(unknown.json().error.message, /Unrecognized key: "steps"/);
      sandbox.credits = 0;
      const poor = await call(`${sandbox.baseUrl('pixeldojo')}/models/flux-dev/run`, { headers: bearer, body: { prompt: 'p' } });
      assert.equal(poor.status, 402);
    });
  });

  describe('PiAPI tasks', () => {
    it('creates a task in the {code, data, message} envelope and completes it, in either status case', async () => {
      const created = await call(`${sandbox.baseUrl('piapi')}/task`, {
        headers: piapiKey,
        body: { model: 'Qubico/flux1-schnell', task_type: 'txt2img', input: { prompt: 'a boat', width: 512, height: 512, batch_size: 2 } },
      });
      assert.equal(created.status, 200);
      const { code, data, message } = created.json();
      assert.equal(code, 200);
      assert.equal(message, 'success');
      assert.equal(data.status.toLowerCase(), 'pending');
      await new Promise((resolve) => setTimeout(resolve, 220));
      const done = (await call(`${sandbox.baseUrl('piapi')}/task/${data.task_id}`, { headers: piapiKey })).json().data;
      assert.equal(done.status.toLowerCase(), 'completed');
      assert.equal(done.output.image_urls.length, 2);
      const second = (
        await call(`${sandbox.baseUrl('piapi')}/task`, { headers: piapiKey, body: { model: 'Qubico/flux1-dev', task_type: 'txt2img', input: { prompt: 'b' } } })
      ).json().data;
      assert.notEqual(second.status, data.status, 'consecutive tasks use different status cases');
    });

    it('answers the documented error codes: 1200 auth, 1100 prompt, 1700 size, advanced types only on the advanced model', async () => {
      const task = (body: unknown, headers = piapiKey) => call(`${sandbox.baseUrl('piapi')}/task`, { headers, body });
      const auth = await task({ model: 'Qubico/flux1-dev', task_type: 'txt2img', input: { prompt: 'x' } }, { 'x-api-key': 'wrong' });
      assert.equal(auth.status, 401);
      assert.equal(auth.json().data.error.code, 1200);
      const long = await task({ model: 'Qubico/flux1-dev', task_type: 'txt2img', input: { prompt: 'x'.repeat(1501) } });
      assert.equal(long.json().data.error.code, 1100);
      const big = await task({ model: 'Qubico/flux1-dev', task_type: 'txt2img', input: { prompt: 'x', width: 2048, height: 1024 } });
      assert.equal(big.json().data.error.code, 1700);
      const advanced = await task({ model: 'Qubico/flux1-dev', task_type: 'kontext', input: { prompt: 'x', image: 'https://e.x/a.png' } });
      assert.equal(advanced.status, 400);
      assert.equal(advanced.json().message, 'failed');
    });

    it('posts {timestamp, data} webhooks with the secret in x-webhook-secret, for each phase', async () => {
      const receiver = await startWebhookReceiver();
      try {
        await call(`${sandbox.baseUrl('piapi')}/task`, {
          headers: piapiKey,
          body: {
            model: 'Qubico/flux1-dev-advanced',
            task_type: 'txt2img-lora',
            input: { prompt: 'x', lora_settings: [{ path: 'https://e.x/l.safetensors', scale: 0.8 }] },
            config: { service_mode: 'public', webhook_config: { endpoint: receiver.url, secret: 's3cret' } },
          },
        });
        await waitFor(() => receiver.received.length === 2, 2000, 'two webhooks');
        for (const hook of receiver.received) {
          assert.equal(hook.headers['x-webhook-secret'], 's3cret');
          assert.equal(typeof (hook.body as { timestamp: number }).timestamp, 'number');
        }
        const phases = receiver.received.map((hook) => (hook.body as { data: { status: string } }).data.status.toLowerCase());
        assert.deepEqual(phases, ['processing', 'completed']);
      } finally {
        await receiver.close();
      }
    });
  });

  describe('Workers AI', () => {
    it('the worker answers PNG bytes with the documented cost and size headers', async () => {
      const answer = await call(`${sandbox.baseUrl('workers-ai')}/`, { body: { prompt: 'a cat', steps: 4, aspectRatio: '1:1' } });
      assert.equal(answer.status, 200);
      assert.equal(answer.headers['content-type'], 'image/png');
      assert.equal(answer.headers['x-cost-usd'], '0.000652');
      assert.equal(answer.headers['x-neurons-used'], '57.6');
      assert.equal(answer.headers['x-tiles'], '4');
      assert.equal(answer.headers['x-image-width'], '1024');
      const bad = await call(`${sandbox.baseUrl('workers-ai')}/`, { body: { steps: 4 } });
      assert.deepEqual(bad.json(), { error: 'Prompt is required' });
      assert.equal((await call(`${sandbox.baseUrl('workers-ai')}/`, { body: { prompt: 'x', steps: 9 } })).status, 400);
    });

    it('the REST API answers base64 JPEG in the v4 envelope, raw PNG for SDXL, and its error codes', async () => {
      const base = `${sandbox.baseUrl('cloudflare')}/accounts/${SANDBOX_ACCOUNT_ID}/ai/run`;
      const flux = (await call(`${base}/@cf/black-forest-labs/flux-1-schnell`, { headers: bearer, body: { prompt: 'a cat', steps: 4 } })).json();
      assert.equal(flux.success, true);
      assert.deepEqual([...Buffer.from(flux.result.image, 'base64').subarray(0, 2)], [0xff, 0xd8]);
      const sdxl = await call(`${base}/@cf/stabilityai/stable-diffusion-xl-base-1.0`, { headers: bearer, body: { prompt: 'a cat' } });
      assert.equal(sdxl.headers['content-type'], 'image/png');
      const unauthorised = await call(`${base}/@cf/black-forest-labs/flux-1-schnell`, { body: { prompt: 'x' } });
      assert.equal(unauthorised.json().errors[0].code, 10000);
      const wrongAccount = await call(`${sandbox.baseUrl('cloudflare')}/accounts/nope/ai/models/search`, { headers: bearer });
      assert.equal(wrongAccount.json().errors[0].code, 7003);
      const tooLong = await call(`${base}/@cf/black-forest-labs/flux-1-schnell`, { headers: bearer, body: { prompt: 'x'.repeat(2049) } });
      assert.equal(tooLong.status, 400);
    });
  });

  describe('faults and the request log', () => {
    it('logs every request with its headers and parsed body, before any fault', async () => {
      sandbox.injectFault({ api: 'piapi', fault: { type: 'status', status: 503 } });
      const answer = await call(`${sandbox.baseUrl('piapi')}/task`, { headers: piapiKey, body: { model: 'm' } });
      assert.equal(answer.status, 503);
      const [logged] = sandbox.requestsTo('piapi', 'POST', '/task');
      assert.deepEqual(logged.body, { model: 'm' });
      assert.equal(logged.headers['x-api-key'], SANDBOX_API_KEY);
    });

    it('applies faults only to matching requests, for as many times as asked', async () => {
      sandbox.injectFault({ api: 'pixeldojo', method: 'GET', path: '/models', fault: { type: 'status', status: 429, retryAfter: '2' }, times: 2 });
      const models = `${sandbox.baseUrl('pixeldojo')}/models`;
      assert.equal((await call(`${sandbox.baseUrl('pixeldojo')}/jobs`, { headers: bearer })).status, 200);
      const limited = await call(models);
      assert.equal(limited.status, 429);
      assert.equal(limited.headers['retry-after'], '2');
      assert.equal((await call(models)).status, 429);
      assert.equal((await call(models)).status, 200);
    });

    it('adds latency, resets connections and sends malformed JSON on request', async () => {
      sandbox.injectFault({ api: 'pixeldojo', fault: { type: 'latency', ms: 150 } });
      const started = Date.now();
      assert.equal((await call(`${sandbox.baseUrl('pixeldojo')}/models`)).status, 200);
      assert.ok(Date.now() - started >= 140);
      sandbox.injectFault({ api: 'pixeldojo', fault: { type: 'reset' } });
      await assert.rejects(call(`${sandbox.baseUrl('pixeldojo')}/models`));
      sandbox.injectFault({ api: 'pixeldojo', fault: { type: 'malformed' } });
      const malformed = await call(`${sandbox.baseUrl('pixeldojo')}/models`);
      assert.throws(() => malformed.json());
    });

    it('never delivers a webhook off this machine', async () => {
      await call(`${sandbox.baseUrl('pixeldojo')}/models/flux-dev/run`, {
        headers: bearer,
        body: { prompt: 'p', webhook_url: 'https://example.com/hook' },
      });
      await waitFor(() => sandbox.webhooks.length > 0, 2000, 'delivery attempt');
      assert.match(sandbox.webhooks[0].error ?? '', /loopback addresses only/);
    });
  });
});

import assert from 'node:assert/strict';
import { InvalidRequestError, applyResult, jobSchema, resolveRequest } from '../../lib/contract';

describe('lib/contract', () => {
  describe('resolveRequest', () => {
    const configured = { prompt: 'node prompt', model: 'node-model', params: { a: 1, b: 2 } };

    it('takes msg.prompt, else a string payload, else the node prompt', () => {
      assert.equal(resolveRequest({ prompt: ' msg ', payload: 'payload' }, configured).prompt, 'msg');
      assert.equal(resolveRequest({ payload: 'payload' }, configured).prompt, 'payload');
      assert.equal(resolveRequest({ payload: Buffer.from('x') }, configured).prompt, 'node prompt');
      assert.equal(resolveRequest({}, {}).prompt, '');
    });

    it('lets msg.model override and merges msg.params over the configured parameters', () => {
      const resolved = resolveRequest({ model: 'msg-model', params: { b: 3, c: 4 } }, configured);
      assert.equal(resolved.model, 'msg-model');
      assert.deepEqual(resolved.params, { a: 1, b: 3, c: 4 });
      assert.deepEqual(configured.params, { a: 1, b: 2 }, 'the node settings are not changed');
    });

    for (const [label, msg, message] of [
      ['a numeric prompt', { prompt: 5 }, /msg.prompt must be a string, not a number/],
      ['an empty model', { model: ' ' }, /msg.model must be a model name/],
      ['params as an array', { params: [1] }, /msg.params must be an object of parameters, not an array/],
      ['params as a Buffer', { params: Buffer.from('{}') }, /not a Buffer/],
    ] as const) {
      it(`refuses ${label}`, () => {
        assert.throws(
          () => resolveRequest(msg as Record<string, unknown>, configured),
          (error: Error) => error instanceof InvalidRequestError && message.test(error.message),
        );
      });
    }
  });

  describe('applyResult', () => {
    it('puts the first image in payload and keeps every other property', () => {
      const msg: Record<string, unknown> = { topic: 't', req: {}, payload: 'old' };
      const job = { provider: 'pixeldojo' as const, model: 'm', status: 'completed' as const, params: {} };
      const out = applyResult(msg, { images: [{ url: 'u1', data: Buffer.from('d') }, { url: 'u2' }], job });
      assert.equal(out, msg);
      assert.deepEqual(out.payload, Buffer.from('d'));
      assert.equal(out.topic, 't');
      assert.equal((out.images as unknown[]).length, 2);
      assert.equal(applyResult({}, { images: [{ url: 'u1' }], job }).payload, 'u1');
    });

    it('sets only msg.job for a pending job', () => {
      const out = applyResult({ payload: 'kept' }, { provider: 'piapi', model: 'm', id: 'x', status: 'pending', params: {} });
      assert.equal(out.payload, 'kept');
      assert.equal(out.images, undefined);
      assert.equal((out.job as { id: string }).id, 'x');
    });
  });

  it('jobSchema accepts what the nodes send and names what is wrong otherwise', () => {
    assert.ok(jobSchema.safeParse({ provider: 'piapi', model: 'm', id: 'x', status: 'pending', params: {} }).success);
    const bad = jobSchema.safeParse({ provider: 'piapi', model: 'm', status: 'done', params: {} });
    assert.equal(bad.success, false);
    assert.deepEqual(
      bad.error?.issues.map((issue) => issue.path.join('.')),
      ['status'],
    );
  });
});

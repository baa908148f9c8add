import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Node, NodeAPI, NodeDef } from 'node-red';
import { applyResult } from '../../lib/contract';
import type { JobSnapshot } from '../../lib/contract';
import { generationOf } from '../../lib/jobs/complete';
import { outcomeOf } from '../../lib/jobs/poll';
import {
  MAX_WEBHOOK_BYTES,
  deliveryCredentials,
  readDelivery,
  jobWebhookSettingsSchema,
  readWebhookBody,
  webhookRegistry,
  webhookSecretHash,
} from '../../lib/jobs/webhooks';
import type { WebhookDelivery, WebhookRequest } from '../../lib/jobs/webhooks';
import { journalOf } from '../shared/jobs';
import { statusReporter } from '../shared/status';
import { editorSettingsFor, settingsOf } from '../shared/settings';
import { closeWebhookEndpoint, openWebhookEndpoint } from '../shared/webhook-endpoints';

type Request = IncomingMessage & WebhookRequest & { query?: Record<string, unknown> };

function answer(res: ServerResponse, status: number, body: Record<string, unknown>, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'application/json', ...headers }).end(JSON.stringify(body));
}

export = function register(RED: NodeAPI): void {
  function JobWebhook(this: Node, def: NodeDef): void {
    RED.nodes.createNode(this, def);
    const status = statusReporter(RED, this);
    const path = settingsOf(this, jobWebhookSettingsSchema, def).value?.path;
    if (!path) {
      status.failed(new Error('bad path'));
      return;
    }

    /** The journal entry of the job a secret belongs to, if the journal has one. */
    const journaled = (hash: string) => {
      const journal = journalOf(RED);
      const entry = journal?.bySecret(hash);
      return journal && entry ? { journal, entry } : undefined;
    };

    /**
     * A job whose node was removed while it ran (still in the journal): this node delivers it, with
     * the message that started it, so a paid result is not dropped.
     */
    const deliverOrphan = ({ journal, entry }: NonNullable<ReturnType<typeof journaled>>, delivery: WebhookDelivery, hash: string): string => {
      if (!['completed', 'failed', 'expired'].includes(delivery.snapshot.status)) return 'progress';
      webhookRegistry.settle({ secretHash: hash });
      journal
        .remove(entry.key)
        .catch((error: unknown) =>
          this.warn(`the delivered job could not be removed from the pending-job journal: ${error instanceof Error ? error.message : String(error)}`),
        );
      const msg = journal.restore(entry);
      const job = entry.job.id || !delivery.jobId ? entry.job : { ...entry.job, id: delivery.jobId };
      try {
        const snapshot = outcomeOf(job.id ?? 'whose id is unknown', job.provider, delivery.snapshot) as JobSnapshot;
        const result = generationOf(job, snapshot);
        status.finished(result);
        this.send(applyResult(msg, result));
      } catch (error) {
        status.failed(error);
        this.error(error, msg);
      }
      return 'completed';
    };

    const refuse = (res: ServerResponse) => answer(res, 401, { error: 'unknown or missing webhook secret' });

    const handle = (req: Request, res: ServerResponse): void => {
      readWebhookBody(req, MAX_WEBHOOK_BYTES).then(
        (body) => {
          if (body.kind === 'too-large') return answer(res, 413, { error: `bodies over ${MAX_WEBHOOK_BYTES} bytes are refused` });
          const credentials = deliveryCredentials(req.query ?? {}, req.headers, body.value);
          if (!credentials) return refuse(res);
          const hash = webhookSecretHash(credentials.secret);
          const record = journaled(hash);
          if (!webhookRegistry.knows(hash) && !record) return refuse(res);
          const delivery = readDelivery(credentials, body.value);
          if (!delivery) return answer(res, 400, { error: `not a ${credentials.provider} webhook body` });
          if (record && !RED.nodes.getNode(record.entry.nodeId)) return answer(res, 200, { received: deliverOrphan(record, delivery, hash) });
          const outcome = webhookRegistry.deliver(delivery);
          if (outcome !== 'unknown') return answer(res, 200, { received: outcome });
          // A secret is one job's: naming another job is a wrong delivery, and asking again will not help.
          const ownJob = record?.entry.job.id;
          if (ownJob && delivery.jobId && delivery.jobId !== ownJob) return answer(res, 409, { error: 'this webhook secret belongs to another job' });
          // The owner is being redeployed and will expect this job in a moment: ask the provider to try again.
          return record ? answer(res, 503, { error: 'the job is being resumed; try again' }, { 'retry-after': '5' }) : refuse(res);
        },
        () => answer(res, 400, { error: 'the body could not be read' }),
      );
    };

    openWebhookEndpoint(RED, this.id, path, handle);
    this.on('close', (_removed: boolean, done: () => void) => {
      closeWebhookEndpoint(RED, this.id);
      status.clear();
      done();
    });
  }
  RED.nodes.registerType('job-webhook', JobWebhook, { settings: editorSettingsFor('job-webhook', jobWebhookSettingsSchema) });
};

import { z } from 'zod';
import { configuredRequestSchema } from '../contract';

/**
 * `wait`: send the finished result; `job`: send the pending `msg.job` at once; `webhook`: complete by
 * the provider's callback, with polling after a grace period (DESIGN.md).
 */
export const completionSchema = z.enum(['wait', 'job', 'webhook']);
export type Completion = z.infer<typeof completionSchema>;

/** The settings every node that submits paid jobs stores (DESIGN.md names); each node adds its own. */
export const submittingSettingsSchema = configuredRequestSchema.extend({
  completion: z.union([z.literal(''), completionSchema]).optional(),
  download: z.boolean().optional(),
});

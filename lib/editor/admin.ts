/** What the pack's admin endpoints answer (nodes/shared/admin.ts serves them). */

/** An admin answer other than 200, with a code a script can test (VisionCraft's error format). */
export class AdminError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'AdminError';
  }
}

/** An answer with a status of its own (VisionCraft-style endpoints answer their documented bodies as they are). */
export class AdminAnswer {
  constructor(
    readonly status: number,
    readonly body: Record<string, unknown>,
  ) {}
}

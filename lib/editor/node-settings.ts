import { z } from 'zod';

/**
 * Node settings are validated by the runtime with zod and by the editor with the same schema,
 * exported to the browser as JSON Schema (`<nodeType>Schema` in RED.settings, read by
 * resources/editor.js), so the dialog cannot accept a value the runtime refuses. Fields use only
 * what both sides read alike: strings, enums, whole numbers and amounts the editor types as text.
 */

/** A number typed into the editor (text there, a number in hand-written flow JSON); empty for the default. */
export const optionalAmount = (min: number, max: number) =>
  z.union([z.literal(''), z.coerce.number().min(min, `must be ${min} to ${max}`).max(max, `must be ${min} to ${max}`)]).optional();

/** A whole number typed into the editor; empty for the default. */
export const optionalInteger = (min: number, max: number) =>
  z
    .union([z.literal(''), z.coerce.number().int('must be a whole number').min(min, `must be ${min} to ${max}`).max(max, `must be ${min} to ${max}`)])
    .optional();

/** An http(s) URL, or empty. Written without regex flags: JSON Schema patterns carry none. */
export const optionalHttpUrl = z
  .string()
  .regex(/^(?:[Hh][Tt][Tt][Pp][Ss]?:\/\/[^\s/?#]+\S*)?$/, 'must be an http:// or https:// URL')
  .optional();

export type EditorSchema = z.core.JSONSchema.BaseSchema;

/** The JSON Schema of what a node's settings accept, as its editor reads it. */
export function editorSchemaOf(schema: z.ZodType): EditorSchema {
  return z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' });
}

/** The RED.settings name a node type's schema is exported under: Node-RED requires the type's camelCase as prefix. */
export function editorSchemaSettingName(nodeType: string): string {
  return `${nodeType.replace(/-(\w)/g, (_match, letter: string) => letter.toUpperCase())}Schema`;
}

/**
 * The JSON Schema of a provider request's parameters (`msg.params` and the node's Parameters), as the
 * runtime validates them: the request schema without the fields a node fills from its own settings.
 * Refinements that span fields (ultra not with alchemy) stay the runtime's; the editor gets the ranges.
 */
export function parameterSchemaOf(schema: z.ZodType, filledByNode: readonly string[] = ['prompt']): EditorSchema {
  const json = editorSchemaOf(schema) as EditorSchema & { properties?: Record<string, unknown>; required?: string[] };
  const { $schema: _dialect, ...rest } = json;
  return {
    ...rest,
    properties: Object.fromEntries(Object.entries(json.properties ?? {}).filter(([name]) => !filledByNode.includes(name))) as EditorSchema['properties'],
    ...(json.required ? { required: json.required.filter((name) => !filledByNode.includes(name)) } : {}),
  };
}

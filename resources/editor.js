// Editor helpers shared by the pack's node editors; Node-RED serves this file at
// resources/node-red-contrib-image-gen/editor.js. Each node's .html keeps its own registerType.
(function () {
  if (window.ImageGenEditor) return;

  /**
   * Whether a value meets a JSON Schema as the runtime's zod schema would (lib/editor/node-settings.ts
   * says which parts are used). Numbers are typed as text in the dialog and the runtime coerces them
   * with Number(), so this does too.
   */
  function meets(schema, value) {
    if (schema.anyOf)
      return schema.anyOf.some(function (choice) {
        return meets(choice, value);
      });
    if ('const' in schema && value !== schema.const) return false;
    if (schema.enum && schema.enum.indexOf(value) < 0) return false;
    switch (schema.type) {
      case 'string':
        return (
          typeof value === 'string' &&
          (!schema.pattern || new RegExp(schema.pattern).test(value)) &&
          (schema.minLength === undefined || value.length >= schema.minLength) &&
          (schema.maxLength === undefined || value.length <= schema.maxLength)
        );
      case 'number':
      case 'integer':
        var number = Number(value);
        return (
          isFinite(number) &&
          (schema.type === 'number' || Number.isSafeInteger(number)) &&
          (schema.minimum === undefined || number >= schema.minimum) &&
          (schema.maximum === undefined || number <= schema.maximum) &&
          (schema.exclusiveMinimum === undefined || number > schema.exclusiveMinimum) &&
          (schema.exclusiveMaximum === undefined || number < schema.exclusiveMaximum)
        );
      case 'boolean':
        return typeof value === 'boolean';
      case 'object':
        return value !== null && typeof value === 'object' && !Array.isArray(value);
      default:
        return true;
    }
  }

  window.ImageGenEditor = {
    /**
     * Whether the runtime accepts this value for one of a node type's settings, by the schema the
     * runtime reads them with (exported as RED.settings.<nodeType>Schema).
     */
    accepts: function (nodeType, property, value) {
      var name =
        nodeType.replace(/-(\w)/g, function (_match, letter) {
          return letter.toUpperCase();
        }) + 'Schema';
      var schema = RED.settings[name];
      if (!schema || !schema.properties || !schema.properties[property]) return true;
      if (value === undefined) return (schema.required || []).indexOf(property) < 0;
      return meets(schema.properties[property], value);
    },
    /**
     * The provider kinds, with their defaults, models and prices, as the runtime's adapters give them
     * (RED.settings.providerConfigProviders): no dialog keeps its own copy.
     */
    providers: function () {
      return RED.settings.providerConfigProviders || {};
    },
    /** A provider kind's name: the dialog's translation when it has one, else the adapter's label. */
    kindLabel: function (node, kind) {
      var key = 'provider-config.kind.' + kind;
      var text = node._(key);
      var info = this.providers()[kind];
      return text && text !== key ? text : info ? info.label : kind;
    },
    /** Fills a select with a provider kind's models, "id (price)", keeping `current` selected (and listed, if it is not one of them). */
    fillModels: function (select, kind, current) {
      var info = this.providers()[kind] || { models: [] };
      select.empty();
      (info.models || []).forEach(function (model) {
        select.append(
          $('<option>')
            .val(model.id)
            .text(model.id + (model.price ? ' (' + model.price + ')' : '')),
        );
      });
      if (
        current &&
        !select.find('option').filter(function () {
          return this.value === current;
        }).length
      ) {
        select.append($('<option>').val(current).text(current));
      }
      if (current) select.val(current);
      return info.models || [];
    },
    /** Shows the node's parameters object as JSON in the #node-input-params-json textarea. */
    showParams: function (node) {
      $('#node-input-params-json').val(JSON.stringify(node.params || {}, null, 2));
    },
    /** Reads the textarea back; anything but a JSON object keeps the previous parameters and says so. */
    saveParams: function (node, errorKey) {
      try {
        var value = JSON.parse($('#node-input-params-json').val() || '{}');
        if (!value || typeof value !== 'object' || Array.isArray(value)) throw new Error('not an object');
        node.params = value;
      } catch {
        RED.notify(node._(errorKey), 'error');
      }
    },
  };
})();

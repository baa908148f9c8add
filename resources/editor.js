// Editor helpers shared by the pack's node editors; Node-RED serves this file at
// resources/node-red-contrib-image-gen/editor.js. Each node's .html keeps its own registerType.
(function () {
  if (window.ImageGenEditor) return;

  /** A JSON Schema `uri` as zod's z.url() reads it: what the URL parser takes. */
  function isUrl(value) {
    try {
      new URL(value);
      return true;
    } catch {
      return false;
    }
  }

  /**
   * Whether a value meets a JSON Schema as the runtime's zod schema would (lib/editor/node-settings.ts
   * says which parts are used). Numbers are typed as text in the dialog and the runtime coerces them
   * with Number(), so this does too. `strict` is for provider parameters, which the runtime reads as
   * JSON values without coercion: a number must be a number there.
   */
  function meets(schema, value, strict) {
    if (schema.anyOf)
      return schema.anyOf.some(function (choice) {
        return meets(choice, value, strict);
      });
    if ('const' in schema && value !== schema.const) return false;
    if (schema.enum && schema.enum.indexOf(value) < 0) return false;
    switch (schema.type) {
      case 'string':
        return (
          typeof value === 'string' &&
          (!schema.pattern || new RegExp(schema.pattern).test(value)) &&
          (schema.format !== 'uri' || isUrl(value)) &&
          (schema.minLength === undefined || value.length >= schema.minLength) &&
          (schema.maxLength === undefined || value.length <= schema.maxLength)
        );
      case 'number':
      case 'integer':
        if (strict && typeof value !== 'number') return false;
        var number = Number(value);
        return (
          isFinite(number) &&
          (schema.type === 'number' || Number.isSafeInteger(number)) &&
          (schema.minimum === undefined || number >= schema.minimum) &&
          (schema.maximum === undefined || number <= schema.maximum) &&
          (schema.exclusiveMinimum === undefined || number > schema.exclusiveMinimum) &&
          (schema.exclusiveMaximum === undefined || number < schema.exclusiveMaximum) &&
          (schema.multipleOf === undefined || number % schema.multipleOf === 0)
        );
      case 'boolean':
        return typeof value === 'boolean';
      case 'object':
        if (value === null || typeof value !== 'object' || Array.isArray(value)) return false;
        if (!strict) return true;
        // A parameter's nested object (a LoRA, an outpaint setting) as the runtime's strict zod object reads it.
        var properties = schema.properties || {};
        return (
          (schema.required || []).every(function (name) {
            return value[name] !== undefined;
          }) &&
          Object.keys(value).every(function (name) {
            return name in properties ? meets(properties[name], value[name], strict) : schema.additionalProperties !== false;
          })
        );
      case 'array':
        return (
          Array.isArray(value) &&
          (schema.minItems === undefined || value.length >= schema.minItems) &&
          (schema.maxItems === undefined || value.length <= schema.maxItems) &&
          (!strict ||
            !schema.items ||
            value.every(function (item) {
              return meets(schema.items, item, strict);
            }))
        );
      case 'null':
        return value === null;
      default:
        return true;
    }
  }

  /**
   * The pack's editor styles, readable at the default tray and sidebar widths, in the light and dark
   * themes: the parameter form's layout, and help that wraps its code terms and property names
   * (Node-RED keeps inline code on one line, which pushes a long term past the sidebar's edge).
   */
  function addStyle() {
    $('<style>')
      .text(
        '.image-gen-help code,.image-gen-help dl.message-properties>dt{white-space:normal;overflow-wrap:anywhere}' +
          '.image-gen-params-form{margin-top:6px}' +
          '.image-gen-param{margin-bottom:6px}' +
          '.image-gen-param-label{display:inline-block;width:150px;overflow-wrap:anywhere;vertical-align:top}' +
          '.image-gen-param-input{width:calc(100% - 160px)!important}' +
          '.image-gen-param-help,.image-gen-param-error{margin-left:150px;overflow-wrap:anywhere;font-size:0.9em}' +
          '.image-gen-param-help{color:var(--red-ui-secondary-text-color,#888)}' +
          '.image-gen-param-error,.image-gen-check-refused{color:var(--red-ui-text-color-error,#d6615f)}' +
          '.image-gen-params-toggle{display:inline-block;margin-top:4px}',
      )
      .appendTo('head');
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
    /**
     * Fills a select with a provider kind's models, "name · price" (the id where the adapter gives no
     * shorter name; the tooltip has the id and the price per image), keeping `current` selected (and
     * listed, if it is not one of them).
     */
    fillModels: function (select, kind, current) {
      var info = this.providers()[kind] || { models: [] };
      select.empty();
      (info.models || []).forEach(function (model) {
        select.append(
          $('<option>')
            .val(model.id)
            .text((model.label || model.id) + (model.price ? ' · ' + model.price : ''))
            .attr('title', model.id + (model.price ? ': ' + model.price + ' per image' : '')),
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
    /** Whether the runtime accepts `value` for one parameter of a provider's model or task type, by its exported schema. */
    acceptsParameter: function (kind, key, name, value) {
      var schema = this.parameterSchema(kind, key);
      var property = schema && schema.properties && schema.properties[name];
      return !property || meets(property, value, true);
    },
    /** The JSON Schema of a provider's parameters for one model or task type (else its schema for all), as the runtime exports it. */
    parameterSchema: function (kind, key) {
      var parameters = (this.providers()[kind] || {}).parameters || {};
      return parameters[key] || parameters['*'];
    },
    /** The provider config a dialog has chosen, or undefined while it has none. */
    chosenProvider: function (field) {
      var id = $(field || '#node-input-provider').val();
      return id && id !== '_ADD_' ? id : undefined;
    },
    /** Selects the provider config for a new node when there is exactly one: nothing to choose. */
    defaultProvider: function (node, field) {
      var select = $(field || '#node-input-provider');
      if (node.provider && RED.nodes.node(node.provider)) return;
      var configs = [];
      RED.nodes.eachConfig(function (config) {
        if (config.type === 'provider-config') configs.push(config);
      });
      if (configs.length === 1) select.val(configs[0].id).trigger('change');
    },
    /**
     * The Parameters form: a field per parameter of the provider's schema for the chosen model or task
     * type (RED.settings.providerConfigProviders, the runtime's own zod schemas as JSON Schema), with its
     * range, choices and default, re-rendered when `options.schema()` changes; a JSON toggle for power
     * users. The #node-input-params-json textarea stays the value: the form writes into it. A value the
     * schema refuses is marked with the reason, and keeps the dialog open on it (Done does nothing).
     * `options.check()` answers the settings the runtime checks: its verdict and the estimate a budget
     * uses are shown in #image-gen-check.
     */
    paramsEditor: function (node, options) {
      var textarea = $('#node-input-params-json');
      var formBox = $('<div class="image-gen-params-form"></div>').insertAfter(textarea);
      var toggle = $('<a href="#" class="image-gen-params-toggle"></a>').insertAfter(formBox);
      var verdict = $('#image-gen-check');
      var jsonMode = false;
      var currentSchema;
      /** The dialog's own messages (each node's catalogue has them as <type>.params.*). */
      function text(key, values) {
        return node._(options.type + '.params.' + key, values);
      }
      var timer;
      function read() {
        try {
          var value = JSON.parse(textarea.val() || '{}');
          return value && typeof value === 'object' && !Array.isArray(value) ? value : undefined;
        } catch {
          return undefined;
        }
      }
      function describe(schema) {
        var parts = [];
        if (schema.minimum !== undefined || schema.maximum !== undefined)
          parts.push((schema.minimum !== undefined ? schema.minimum : '') + ' to ' + (schema.maximum !== undefined ? schema.maximum : ''));
        if (schema.exclusiveMinimum !== undefined) parts.push('more than ' + schema.exclusiveMinimum);
        if (schema.maxLength !== undefined) parts.push('up to ' + schema.maxLength + ' characters');
        if (schema.type === 'integer') parts.push('whole number');
        if (schema.multipleOf !== undefined && schema.multipleOf !== 1) parts.push('in steps of ' + schema.multipleOf);
        if (schema.default !== undefined) parts.push('default ' + JSON.stringify(schema.default));
        if (schema.description) parts.push(schema.description);
        return parts.join(', ');
      }
      function fieldValue(input, schema) {
        var text = input.val();
        if (text === '' || text === undefined || text === null) return undefined;
        if (schema.type === 'number' || schema.type === 'integer') return text.trim() === '' ? undefined : Number(text);
        if (schema.type === 'boolean') return text === 'true';
        if (schema.type === 'array' || schema.type === 'object') return JSON.parse(text);
        return text;
      }
      function write() {
        var values = {};
        var problems = 0;
        formBox.find('.image-gen-param').each(function () {
          var row = $(this);
          var name = row.data('name');
          var schema = currentSchema.properties[name];
          var input = row.find('.image-gen-param-input');
          var value;
          var ok = true;
          try {
            value = fieldValue(input, schema);
          } catch {
            ok = false;
          }
          if (ok && value !== undefined) ok = meets(schema, value, true);
          if (ok && value === undefined) ok = (currentSchema.required || []).indexOf(name) < 0;
          input.toggleClass('input-error', !ok);
          row.find('.image-gen-param-error').text(ok ? '' : text('invalid', { range: describe(schema) || schema.type }));
          if (!ok) problems++;
          else if (value !== undefined) values[name] = value;
        });
        // Parameters the form does not show (another model's, or hand-written) are kept as they are.
        var kept = read() || {};
        Object.keys(kept).forEach(function (name) {
          if (!(name in currentSchema.properties)) values[name] = kept[name];
        });
        if (!problems) textarea.val(JSON.stringify(values, null, 2));
        formBox.data('problems', problems);
      }
      function render() {
        var schema = options.schema();
        currentSchema = schema && schema.properties ? schema : undefined;
        formBox.empty();
        var showForm = !jsonMode && currentSchema;
        formBox.toggle(!!showForm);
        textarea.toggle(!showForm);
        toggle.toggle(!!currentSchema).text(text(showForm ? 'asJson' : 'asForm'));
        if (!showForm) return;
        var values = read() || {};
        Object.keys(currentSchema.properties).forEach(function (name) {
          var schema = currentSchema.properties[name];
          var row = $('<div class="image-gen-param"></div>').data('name', name).appendTo(formBox);
          $('<label class="image-gen-param-label"></label>').text(name).appendTo(row);
          var input;
          var choices = schema.enum || (schema.type === 'boolean' ? [true, false] : undefined);
          if (choices) {
            input = $('<select></select>').append($('<option value=""></option>'));
            choices.forEach(function (choice) {
              input.append($('<option></option>').val(String(choice)).text(String(choice)));
            });
          } else if (schema.type === 'array' || schema.type === 'object') {
            input = $('<textarea rows="2"></textarea>');
          } else {
            // Numbers are typed as text and read with Number(), as the runtime's schema reads them.
            input = $('<input type="text">');
          }
          input
            .addClass('image-gen-param-input')
            .attr('id', 'image-gen-param-' + name)
            .attr('placeholder', describe(schema))
            .appendTo(row);
          var value = values[name];
          if (value !== undefined) input.val(typeof value === 'object' ? JSON.stringify(value) : String(value));
          $('<div class="image-gen-param-help"></div>').text(describe(schema)).appendTo(row);
          $('<div class="image-gen-param-error"></div>').appendTo(row);
        });
        formBox.find('.image-gen-param-input').on('change input', function () {
          write();
          scheduleCheck();
        });
        write();
      }
      function scheduleCheck() {
        clearTimeout(timer);
        timer = setTimeout(runCheck, 300);
      }
      function runCheck() {
        var request = options.check();
        if (!request) return verdict.text('');
        request.settings.params = read() || {};
        $.ajax({ url: 'image-gen/' + options.type + '/check', type: 'POST', contentType: 'application/json', data: JSON.stringify(request) })
          .done(function (answer) {
            verdict.toggleClass('image-gen-check-refused', !answer.ok);
            if (!answer.ok) return verdict.text(answer.message);
            var cost = answer.estimate;
            verdict.text(cost ? text('cost', { amount: +cost.amount.toFixed(6), unit: cost.unit === 'usd' ? 'USD' : 'credits' }) : text('noCost'));
          })
          .fail(function () {
            verdict.text('');
          });
      }
      toggle.on('click', function (event) {
        event.preventDefault();
        if (!jsonMode && formBox.data('problems')) return;
        if (jsonMode && !read()) return textarea.addClass('input-error');
        textarea.removeClass('input-error');
        jsonMode = !jsonMode;
        render();
      });
      textarea.on('change input', function () {
        textarea.toggleClass('input-error', !read());
        scheduleCheck();
      });
      // Done keeps the dialog open while a value is refused, on that value, rather than dropping the edit.
      var done = document.getElementById('node-dialog-ok');
      var guard = function (event) {
        var bad = formBox.is(':visible') ? formBox.find('.image-gen-param-input.input-error').first() : read() ? $() : textarea;
        if (!bad.length) return;
        event.stopImmediatePropagation();
        event.preventDefault();
        bad.trigger('focus');
      };
      if (done) done.addEventListener('click', guard, true);
      return {
        refresh: function () {
          render();
          scheduleCheck();
        },
        close: function () {
          clearTimeout(timer);
          if (done) done.removeEventListener('click', guard, true);
        },
      };
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
  // Not in a browser (the tests read the helpers in a bare JavaScript context): no document to style.
  if (typeof document === 'object') addStyle();
})();

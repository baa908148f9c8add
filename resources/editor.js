// Editor helpers shared by the pack's node editors; Node-RED serves this file at
// resources/node-red-contrib-image-gen/editor.js. Each node's .html keeps its own registerType.
(function () {
  if (window.ImageGenEditor) return;
  window.ImageGenEditor = {
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
      } catch (e) {
        RED.notify(node._(errorKey), 'error');
      }
    }
  };
})();

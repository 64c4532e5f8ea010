// Posts each Canvas form's signed_request into its frame once the page has loaded, as Salesforce does.
document.querySelectorAll("form[data-canvas-autosubmit]").forEach(function (form) { form.submit(); });

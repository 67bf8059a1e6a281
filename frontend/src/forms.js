// Behaviour of plain forms, declared in the markup instead of inline onsubmit handlers:
//   <form data-confirm="Question?">  asks first and submits only if confirmed;
//   <form data-disable-on-submit>     disables its button once submitted (a double click is one submission);
//     with data-busy="Doing it…" the button also says so, with a spinner, while the next page comes.
export function wireForms(root = document) {
  for (const form of root.querySelectorAll("form[data-confirm]")) {
    form.addEventListener("submit", (e) => {
      if (!confirm(form.dataset.confirm)) e.preventDefault();
    });
  }
  for (const form of root.querySelectorAll("form[data-disable-on-submit]")) {
    form.addEventListener("submit", () => {
      const button = form.querySelector("button[type=submit], button");
      button.disabled = true;
      if (form.dataset.busy) {  // <form data-busy="Working…">: what it is doing, with a spinner, until the answer
        button.setAttribute("aria-busy", "true");
        button.textContent = form.dataset.busy;
      }
    });
  }
}

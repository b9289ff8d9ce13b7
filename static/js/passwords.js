// Live "Passwords do not match": the browser itself then refuses to submit the form.
export function watchPasswordMatch(password, confirm) {
  const check = () => {
    const mismatch = confirm.value !== "" && password.value !== confirm.value;
    confirm.setCustomValidity(mismatch ? "Passwords do not match" : "");
  };
  password.addEventListener("input", check);
  confirm.addEventListener("input", check);
  return check;
}

// Dates in the reader's own time zone and language: the server writes them in UTC.
const dateFormat = new Intl.DateTimeFormat(undefined, { dateStyle: "long" });

export function localizeDates(root = document) {
  for (const time of root.querySelectorAll("time[datetime]")) {
    const date = new Date(time.dateTime);
    if (!Number.isNaN(date.getTime())) {
      time.textContent = dateFormat.format(date);
      time.title = date.toLocaleString();
    }
  }
}

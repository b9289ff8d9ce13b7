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

const dateTimeFormat = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });

/** A timestamp from the API as a readable local date and time (naive ones are UTC). */
export function readableDate(value) {
  if (typeof value !== "string") return "";
  const hasZone = /(?:Z|[+-]\d\d:?\d\d)$/i.test(value);
  const date = new Date(hasZone ? value : `${value}Z`);
  return Number.isNaN(date.getTime()) ? "" : dateTimeFormat.format(date);
}

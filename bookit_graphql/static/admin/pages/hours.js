// Opening hours in a service's own time zone, as instants and as the parts of a
// browser-local day they cover (the Bookings week shades them).

const WEEKDAYS = ["MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY", "SATURDAY", "SUNDAY"];
const MINUTE = 60_000;
const DAY_MS = 24 * 60 * MINUTE;

const parts = (date, timeZone) =>
  Object.fromEntries(
    new Intl.DateTimeFormat("en-GB", {
      timeZone, hourCycle: "h23", year: "numeric", month: "2-digit", day: "2-digit",
      hour: "2-digit", minute: "2-digit", second: "2-digit",
    }).formatToParts(date).map((p) => [p.type, p.value])
  );

/** Minutes that `timeZone` is ahead of UTC at the instant `ms`. */
function offset(ms, timeZone) {
  const p = parts(new Date(ms), timeZone);
  const asUtc = Date.UTC(+p.year, +p.month - 1, +p.day, +p.hour % 24, +p.minute, +p.second);
  return Math.round((asUtc - Math.floor(ms / 1000) * 1000) / MINUTE);
}

/** The instant of local wall-clock `hhmm` on local date (y, m, d) in `timeZone`. */
export function instantOf(y, m, d, hhmm, timeZone) {
  const [h, min] = hhmm.split(":").map(Number);
  const guess = Date.UTC(y, m - 1, d, h, min);
  let ms = guess - offset(guess, timeZone) * MINUTE;
  ms = guess - offset(ms, timeZone) * MINUTE; // again, in case the first guess crossed a change
  return ms;
}

/** The service's local date (y, m, d) at the instant `ms`, and its weekday name. */
function localDate(ms, timeZone) {
  const p = parts(new Date(ms), timeZone);
  const y = +p.year, m = +p.month, d = +p.day;
  const weekday = WEEKDAYS[(new Date(Date.UTC(y, m - 1, d)).getUTCDay() + 6) % 7];
  const iso = `${p.year}-${p.month}-${p.day}`;
  return { y, m, d, weekday, iso };
}

const clock = (ms, timeZone) => {
  const p = parts(new Date(ms), timeZone);
  return `${p.hour}:${p.minute}`;
};

/**
 * What of the browser-local day starting at `dayStart` (a Date) the service is open:
 * { segments: [{from, to}] as fractions of the day, labels: ["09:00–17:00"] in the
 * service's zone, closed: [reasons], always: open around the clock }.
 */
export function openingsOfDay(rules, dayStart) {
  const start = dayStart.getTime();
  const end = new Date(dayStart.getFullYear(), dayStart.getMonth(), dayStart.getDate() + 1).getTime();
  if (!rules.weeklyHours.length && !rules.closures.length) {
    return { segments: [{ from: 0, to: 1 }], labels: [], closed: [], always: true };
  }
  const zone = rules.timeZone;
  const closures = new Map(rules.closures.map((c) => [c.date, c.reason || ""]));
  const segments = [];
  const labels = [];
  const closed = [];
  // every service-local date that overlaps this browser-local day
  const seen = new Set();
  for (let probe = start - DAY_MS; probe < end + DAY_MS; probe += DAY_MS / 4) {
    const date = localDate(probe, zone);
    if (seen.has(date.iso)) continue;
    seen.add(date.iso);
    const intervals = rules.weeklyHours.length
      ? rules.weeklyHours.filter((h) => h.day === date.weekday)
      : [{ opens: "00:00", closes: "24:00" }];
    const dayCloses = instantOf(date.y, date.m, date.d + 1, "00:00", zone);
    const isClosed = closures.has(date.iso);
    for (const { opens, closes } of intervals) {
      const from = instantOf(date.y, date.m, date.d, opens, zone);
      const to = closes === "24:00" ? dayCloses : instantOf(date.y, date.m, date.d, closes, zone);
      const a = Math.max(from, start);
      const b = Math.min(to, end);
      if (a >= b) continue;
      if (isClosed) {
        // said only where the closure takes hours away from this day
        if (!closed.includes(closures.get(date.iso))) closed.push(closures.get(date.iso));
        continue;
      }
      segments.push({ from: (a - start) / (end - start), to: (b - start) / (end - start) });
      const first = a === from ? opens : clock(a, zone);
      const last = b === to ? closes : clock(b, zone);
      labels.push({ at: a, text: `${first}–${last}` });
    }
  }
  labels.sort((x, y) => x.at - y.at);
  return { segments, labels: labels.map((l) => l.text), closed, always: false };
}

export { WEEKDAYS };

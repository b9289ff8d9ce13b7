// "Load more": appends the next page of posts in place. The "Older posts" link
// beside it, which works without JavaScript, says which page is next: the button
// fetches that very page (cached by the server like any other) and moves its posts
// here, so cards are rendered in one place only, the server's templates.
//
// The address bar names the page being read (history.replaceState), so Back from
// a post, or a reload, returns to the same posts at the same spot.
import { localizeDates } from "./dates.js";
import { fetchPage } from "./fetch-page.js";
import { LEAVING, onClick } from "./forms.js";

const list = document.getElementById("post-list");
const pager = document.getElementById("pager");
const older = document.getElementById("older-posts");
const button = document.getElementById("load-more");
const error = document.getElementById("load-more-error");
// How far below the top of the window a page must start to count as the one read.
const READING_LINE = 1 / 3;

/** The cards that start a page, each knowing the address of its page. */
function pageStarts() {
  return list.querySelectorAll(".post-card[data-page-url]");
}

/** The page whose posts the reader is looking at: the last one that starts above
 * the reading line. */
function pageInView() {
  const line = window.innerHeight * READING_LINE;
  let current = null;
  for (const card of pageStarts()) {
    if (current && card.getBoundingClientRect().top > line) break;
    current = card;
  }
  return current;
}

/** Name the page in view in the address bar, with where in it the reader is. */
function rememberPlace() {
  const card = pageInView();
  if (!card) return;
  const offset = Math.round(-card.getBoundingClientRect().top);
  history.replaceState({ pageOffset: offset }, "", card.dataset.pageUrl);
}

let placePending = 0;
function trackPlace() {
  // Once the list is longer than its address says, the browser's own scroll
  // restoration would land in the wrong place: this script restores it instead.
  history.scrollRestoration = "manual";
  window.addEventListener(
    "scroll",
    () => {
      clearTimeout(placePending);
      placePending = setTimeout(rememberPlace, 150);
    },
    { passive: true },
  );
}

/** Back (or a reload) on an address this script set: return to the same spot. */
function restorePlace() {
  const offset = history.state?.pageOffset;
  if (typeof offset !== "number" || !list) return;
  history.scrollRestoration = "manual";
  const top = list.firstElementChild.getBoundingClientRect().top + window.scrollY;
  window.scrollTo(0, top + offset);
}

/** Append the next page. Through forms.js's onClick: the button is busy meanwhile,
 * and a failed fetch shows the network error and leaves the button to try again. */
async function loadMore() {
  const url = new URL(older.href);
  const next = await fetchPage(url);
  // A post already shown (say, the page before was rendered when it was newer)
  // is not shown twice.
  const shown = new Set(Array.from(list.children, (card) => card.dataset.postId));
  const cards = Array.from(next.querySelectorAll("#post-list > .post-card")).filter(
    (card) => !shown.has(card.dataset.postId),
  );
  for (const card of cards) list.append(document.adoptNode(card));
  localizeDates(list);

  const nextOlder = next.getElementById("older-posts");
  if (nextOlder) older.setAttribute("href", nextOlder.getAttribute("href"));
  else pager.remove();
  if (cards.length > 0) cards[0].dataset.pageUrl = url.pathname + url.search;
  // Keyboard and screen-reader users carry on from the first new post (or, if there
  // was none, the last one); the posts land where the button was: no jump.
  const focusCard = cards[0] ?? list.lastElementChild;
  focusCard.querySelector(".post-title a").focus({ preventScroll: true });
  rememberPlace();
  // At the end the button went with the pager: nothing to enable again.
  return nextOlder ? undefined : LEAVING;
}

if (list && list.firstElementChild) {
  list.firstElementChild.dataset.pageUrl = location.pathname + location.search;
  restorePlace();
}
if (list && pager && older && button) {
  button.hidden = false;
  onClick(button, { error }, loadMore);
  trackPlace();
}

// The dashboard's pages. A page is a module that calls registerPage() once:
//   registerPage({ id: "schedules", title: "Schedules", order: 25, component: SchedulesPage })
// and is imported by pages/index.js. The navigation, the hash route (#/<id>) and
// the screen title come from here, so adding a page touches nothing else
// (the schedules and webhooks pages are meant to arrive this way).

const pages = [];

export function registerPage(page) {
  if (!page.id || !page.title || !page.component) throw new Error("a page needs id, title, component");
  if (pages.some((known) => known.id === page.id)) throw new Error(`page ${page.id} registered twice`);
  pages.push({ order: 100, ...page });
  pages.sort((a, b) => a.order - b.order);
}

export function allPages() {
  return pages.slice();
}

export function findPage(id) {
  return pages.find((page) => page.id === id) || pages[0];
}

// Reviews: list by service, delete (an admin may delete but not edit others' reviews).
import { useState } from "../../vendor/htm-preact/standalone.module.js";
import { request } from "../api.js";
import { DELETE_REVIEW, REVIEWS } from "../operations.js";
import { registerPage } from "../registry.js";
import { Empty, ErrorNote, html, Loading, MoreButton, Notice, useAction, usePaged, when } from "../ui.js";
import { ServicePicker, useAllServices } from "./common.js";

function ReviewRow({ review, list, setNotice }) {
  const [run, pending, error] = useAction();
  const [confirming, setConfirming] = useState(false);
  const remove = () =>
    run(async () => {
      await request(DELETE_REVIEW, { id: review.id });
      list.remove(review.id);
      setNotice(`The review by ${review.author.fullName} was deleted.`);
    });
  return html`<li class="card row">
    <div class="grow">
      <h2 class="item-title"><span aria-label=${`${review.rating} of 5 stars`}>${"★".repeat(review.rating)}${"☆".repeat(5 - review.rating)}</span>
        ${" "}${review.service.title}</h2>
      <p>${review.comment || html`<em>No comment</em>`}</p>
      <p class="meta">by ${review.author.fullName} · ${when(review.createdAt)}</p>
    </div>
    <div class="buttons">
      ${confirming
        ? html`<button type="button" class="danger" onClick=${remove} disabled=${pending}>Really delete</button>
            <button type="button" class="secondary" onClick=${() => setConfirming(false)}>Keep</button>`
        : html`<button type="button" class="danger" onClick=${() => setConfirming(true)}
            aria-label=${`Delete the review by ${review.author.fullName}`}>Delete</button>`}
    </div>
    <${ErrorNote} error=${error} action="delete the review" />
  </li>`;
}

function ReviewsPage() {
  const { services, error } = useAllServices();
  const [serviceId, setServiceId] = useState(null);
  const [notice, setNotice] = useState("");
  const list = usePaged(REVIEWS, "reviews", { filter: { serviceId } }, serviceId || "all");
  return html`<section>
    <div class="toolbar">
      <${ServicePicker} id="review-service" services=${services} error=${error} value=${serviceId}
        onChange=${setServiceId} allowAll=${true} />
    </div>
    <${Notice} text=${notice} />
    <${ErrorNote} error=${list.error} action="load the reviews" />
    ${!list.loading && !list.error && html`<p class="meta">${list.total} reviews</p>`}
    ${list.nodes.length > 0 && html`<ul class="list">${list.nodes.map((r) => html`<${ReviewRow} key=${r.id} review=${r} list=${list} setNotice=${setNotice} />`)}</ul>`}
    ${list.loading && html`<${Loading} what="Loading reviews" />`}
    ${!list.loading && !list.error && list.nodes.length === 0 && html`<${Empty}>No reviews yet${serviceId ? " for this service" : ""}.</${Empty}>`}
    <${MoreButton} list=${list} label="More reviews" />
  </section>`;
}

registerPage({ id: "reviews", title: "Reviews", order: 50, component: ReviewsPage });

// The contract's operations (shared/contract/*.graphql), copied verbatim
// with the fragments each one uses: the dashboard sends nothing else.
// tests/browser checks every document it sends against the contract.

const SERVICE_FIELDS = `fragment ServiceFields on Service {
  id
  title
  description
  price
  durationMinutes
  isActive
  averageRating
  reviewCount
  createdAt
  updatedAt
}`;

const BOOKING_FIELDS = `fragment BookingFields on Booking {
  id
  startsAt
  endsAt
  status
  createdAt
  updatedAt
  service { id title price durationMinutes }
  user { id email fullName }
  review { id rating comment }
}`;

const REVIEW_FIELDS = `fragment ReviewFields on Review {
  id
  rating
  comment
  createdAt
  updatedAt
  author { id fullName }
  booking { id }
  service { id title }
}`;

const TOKENS = `fragment Tokens on AuthPayload {
  accessToken
  refreshToken
  tokenType
  expiresIn
  user { id email fullName role }
}`;

export const LOGIN = `mutation Login($input: LoginInput!) {
  login(input: $input) { ...Tokens }
}
${TOKENS}`;

export const REFRESH = `mutation Refresh($refreshToken: String!) {
  refreshToken(refreshToken: $refreshToken) { ...Tokens }
}
${TOKENS}`;

export const LOGOUT = `mutation Logout($refreshToken: String) {
  logout(refreshToken: $refreshToken)
}`;

export const SERVICES = `query Services($filter: ServiceFilter, $orderBy: ServiceOrder, $first: Int, $after: String) {
  services(filter: $filter, orderBy: $orderBy, first: $first, after: $after) {
    totalCount
    pageInfo { hasNextPage endCursor }
    edges { cursor node { ...ServiceFields } }
  }
}
${SERVICE_FIELDS}`;

export const CREATE_SERVICE = `mutation CreateService($input: CreateServiceInput!) {
  createService(input: $input) { ...ServiceFields }
}
${SERVICE_FIELDS}`;

export const UPDATE_SERVICE = `mutation UpdateService($id: ID!, $input: UpdateServiceInput!) {
  updateService(id: $id, input: $input) { ...ServiceFields }
}
${SERVICE_FIELDS}`;

export const CREATE_BOOKING = `mutation CreateBooking($input: CreateBookingInput!) {
  createBooking(input: $input) { ...BookingFields }
}
${BOOKING_FIELDS}`;

export const BOOKINGS = `query Bookings($filter: BookingFilter, $first: Int, $after: String) {
  bookings(filter: $filter, first: $first, after: $after) {
    totalCount
    pageInfo { hasNextPage endCursor }
    edges { cursor node { ...BookingFields } }
  }
}
${BOOKING_FIELDS}`;

export const RESCHEDULE_BOOKING = `mutation RescheduleBooking($id: ID!, $startsAt: DateTime!, $endsAt: DateTime) {
  updateBooking(id: $id, input: { startsAt: $startsAt, endsAt: $endsAt }) { ...BookingFields }
}
${BOOKING_FIELDS}`;

export const SET_BOOKING_STATUS = `mutation SetBookingStatus($id: ID!, $status: BookingStatus!) {
  updateBooking(id: $id, input: { status: $status }) { ...BookingFields }
}
${BOOKING_FIELDS}`;

export const DELETE_REVIEW = `mutation DeleteReview($id: ID!) {
  deleteReview(id: $id)
}`;

export const REVIEWS = `query Reviews($filter: ReviewFilter, $first: Int, $after: String) {
  reviews(filter: $filter, first: $first, after: $after) {
    totalCount
    pageInfo { hasNextPage endCursor }
    edges { cursor node { ...ReviewFields } }
  }
}
${REVIEW_FIELDS}`;

export const USERS = `query Users($filter: UserFilter, $first: Int, $after: String) {
  users(filter: $filter, first: $first, after: $after) {
    totalCount
    pageInfo { hasNextPage endCursor }
    edges { cursor node { id email fullName role isActive createdAt } }
  }
}`;

export const UPDATE_USER = `mutation UpdateUser($id: ID!, $input: UpdateUserInput!) {
  updateUser(id: $id, input: $input) { id email fullName role isActive }
}`;

export const BOOKING_CHANGES = `subscription BookingChanges($serviceId: ID, $bookingId: ID, $after: String) {
  bookingChanged(serviceId: $serviceId, bookingId: $bookingId, after: $after) {
    cursor
    kind
    occurredAt
    booking { ...BookingFields }
  }
}
${BOOKING_FIELDS}`;

export const DELETE_SERVICE = `mutation DeleteService($id: ID!) {
  deleteService(id: $id)
}`;

// shared/contract/schedules.graphql

const BOOKING_RULES = `fragment BookingRules on Service {
  timeZone
  weeklyHours { day opens closes }
  closures { date reason }
  bufferBeforeMinutes
  bufferAfterMinutes
  minNoticeMinutes
  maxAdvanceDays
  capacity
}`;

export const SERVICE_RULES = `query ServiceRules($id: ID!) {
  service(id: $id) { id durationMinutes ...BookingRules }
}
${BOOKING_RULES}`;

export const SET_SERVICE_RULES = `mutation SetServiceRules($id: ID!, $input: ServiceRulesInput!) {
  setServiceRules(id: $id, input: $input) { id ...BookingRules }
}
${BOOKING_RULES}`;

export const ADD_CLOSURE = `mutation AddClosure($serviceId: ID!, $date: Date!, $reason: String) {
  addClosure(serviceId: $serviceId, date: $date, reason: $reason) { id ...BookingRules }
}
${BOOKING_RULES}`;

export const REMOVE_CLOSURE = `mutation RemoveClosure($serviceId: ID!, $date: Date!) {
  removeClosure(serviceId: $serviceId, date: $date) { id ...BookingRules }
}
${BOOKING_RULES}`;

// shared/contract/integrations.graphql

const WEBHOOK_ENDPOINT_FIELDS = `fragment WebhookEndpointFields on WebhookEndpoint {
  id url description eventTypes serviceId isActive disabledReason createdAt
}`;

const WEBHOOK_DELIVERY_FIELDS = `fragment WebhookDeliveryFields on WebhookDelivery {
  id eventId eventType status attempts lastResponseStatus lastError
  nextAttemptAt createdAt deliveredAt
}`;

export const CREATE_WEBHOOK_ENDPOINT = `mutation CreateWebhookEndpoint($input: CreateWebhookEndpointInput!) {
  createWebhookEndpoint(input: $input) { secret endpoint { ...WebhookEndpointFields } }
}
${WEBHOOK_ENDPOINT_FIELDS}`;

export const UPDATE_WEBHOOK_ENDPOINT = `mutation UpdateWebhookEndpoint($id: ID!, $input: UpdateWebhookEndpointInput!) {
  updateWebhookEndpoint(id: $id, input: $input) { ...WebhookEndpointFields }
}
${WEBHOOK_ENDPOINT_FIELDS}`;

export const DELETE_WEBHOOK_ENDPOINT = `mutation DeleteWebhookEndpoint($id: ID!) {
  deleteWebhookEndpoint(id: $id)
}`;

export const ROTATE_WEBHOOK_SECRET = `mutation RotateWebhookSecret($id: ID!) {
  rotateWebhookSecret(id: $id) { secret previousSecretExpiresAt endpoint { id } }
}`;

export const SEND_TEST_WEBHOOK = `mutation SendTestWebhook($id: ID!) {
  sendTestWebhook(id: $id) { ...WebhookDeliveryFields }
}
${WEBHOOK_DELIVERY_FIELDS}`;

export const REDELIVER_WEBHOOK = `mutation RedeliverWebhook($deliveryId: ID!) {
  redeliverWebhook(deliveryId: $deliveryId) { ...WebhookDeliveryFields }
}
${WEBHOOK_DELIVERY_FIELDS}`;

export const WEBHOOK_ENDPOINTS = `query WebhookEndpoints($first: Int, $after: String) {
  webhookEndpoints(first: $first, after: $after) {
    totalCount
    pageInfo { hasNextPage endCursor }
    edges { cursor node { ...WebhookEndpointFields } }
  }
}
${WEBHOOK_ENDPOINT_FIELDS}`;

export const WEBHOOK_DELIVERIES = `query WebhookDeliveries($endpointId: ID!, $status: WebhookDeliveryStatus, $first: Int, $after: String) {
  webhookDeliveries(endpointId: $endpointId, status: $status, first: $first, after: $after) {
    totalCount
    pageInfo { hasNextPage endCursor }
    edges { cursor node { ...WebhookDeliveryFields } }
  }
}
${WEBHOOK_DELIVERY_FIELDS}`;

export const MY_NOTIFICATIONS = `query MyNotifications($first: Int, $after: String) {
  notifications(first: $first, after: $after) {
    totalCount
    edges { node { id kind bookingId channel status sentAt createdAt } }
  }
}`;

// The contract's operations (shared/contract/operations.graphql), copied verbatim
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

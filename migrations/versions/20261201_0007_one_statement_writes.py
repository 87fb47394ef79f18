"""Writes in one statement: createBooking, updateBooking and createReview as SQL functions.

Each function does, in one round trip, what the ORM path did statement by
statement in one transaction: the idempotency replay, the per-service lock,
the insert or update that the constraints decide, the event row and its
NOTIFY. They are functions and not data-modifying CTEs because one statement
takes its snapshot before it waits for a lock: a CTE that took the service's
lock would then count seats without the bookings of the holder it waited for,
and fill a class beyond its capacity. Inside a function each statement takes
a fresh snapshot, as the statements of the ORM path did.

What is bookable (opening hours, notice, horizon, buffers: catalog/schedule.py)
stays in Python; the callers send its verdict with the version of the
service's rules it was made with, and the functions refuse to use a verdict
made with other rules (bookings/service.py says how).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FUNCTIONS = [
    # The version of a service's rules that a verdict was made with: any change of the
    # row a writer makes (the review statistics, kept by a trigger, are not rules).
    """
CREATE FUNCTION bookit_rules_version(s services) RETURNS text
LANGUAGE sql STABLE AS $$
    SELECT md5((to_jsonb(s) - 'review_count' - 'rating_total')::text)
$$
""",
    # The advisory lock that queues the writers of one service's bookings: the
    # service id's first 64 bits.
    """
CREATE FUNCTION bookit_timetable_lock(service_id uuid) RETURNS bigint
LANGUAGE sql IMMUTABLE AS $$
    SELECT ('x' || translate(left(service_id::text, 18), '-', ''))::bit(64)::bigint
$$
""",
    # events.record's work: the log's lock (held to commit, so ids follow commit
    # order), the event with the booking's snapshot, and the NOTIFY.
    """
CREATE FUNCTION bookit_record_event(
    b bookings, p_kind booking_event_kind, p_type text, p_review jsonb,
    p_private text[], p_event_lock bigint, p_channel text
) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    event_id bigint;
BEGIN
    PERFORM pg_advisory_xact_lock(p_event_lock);
    INSERT INTO booking_events (kind, type, review, booking_id, service_id, user_id, booking)
    VALUES (p_kind, p_type, p_review, b.id, b.service_id, b.user_id, to_jsonb(b) - p_private)
    RETURNING id INTO event_id;
    PERFORM pg_notify(p_channel, event_id::text);
    RETURN event_id;
END
$$
""",
    # The first active booking of the service, but `besides`, whose busy time meets
    # [busy_starts_at, busy_ends_at): what BOOKING_CONFLICT names.
    """
CREATE FUNCTION bookit_in_the_way(
    p_service_id uuid, p_busy_starts_at timestamptz, p_busy_ends_at timestamptz, p_besides uuid,
    OUT starts_at timestamptz, OUT ends_at timestamptz
)
LANGUAGE sql STABLE AS $$
    SELECT b.starts_at, b.ends_at FROM bookings AS b
     WHERE b.service_id = p_service_id AND b.status <> 'CANCELLED'
       AND b.busy_starts_at < p_busy_ends_at AND b.busy_ends_at > p_busy_starts_at
       AND b.id IS DISTINCT FROM p_besides
     ORDER BY b.starts_at LIMIT 1
$$
""",
    # How many active bookings of the service, but `besides`, keep time that meets the
    # busy time (spelled as the partial GiST index ix_bookings_service_id_busy).
    """
CREATE FUNCTION bookit_seats_taken(
    p_service_id uuid, p_busy_starts_at timestamptz, p_busy_ends_at timestamptz, p_besides uuid
) RETURNS bigint
LANGUAGE sql STABLE AS $$
    SELECT count(*) FROM bookings AS other
     WHERE other.service_id = p_service_id AND other.status <> 'CANCELLED'
       AND tstzrange(other.busy_starts_at, other.busy_ends_at, '[)')
           && tstzrange(p_busy_starts_at, p_busy_ends_at, '[)')
       AND other.id IS DISTINCT FROM p_besides
$$
""",
    """
CREATE FUNCTION bookit_create_booking(
    p_id uuid, p_user_id uuid, p_service_id uuid, p_starts_at timestamptz, p_ends_at timestamptz,
    p_busy_starts_at timestamptz, p_busy_ends_at timestamptz, p_exclusive boolean,
    p_capacity integer, p_key text, p_hash text, p_version text, p_refused boolean,
    p_attempts integer, p_type text, p_private text[], p_event_lock bigint, p_channel text,
    OUT outcome text, OUT booking bookings,
    OUT conflict_starts_at timestamptz, OUT conflict_ends_at timestamptz
)
LANGUAGE plpgsql AS $$
BEGIN
    IF p_key IS NOT NULL THEN  -- a retry: the first call's booking, whatever came since
        SELECT * INTO booking FROM bookings AS b
         WHERE b.user_id = p_user_id AND b.idempotency_key = p_key;
        IF FOUND THEN
            outcome := 'replay';
            RETURN;
        END IF;
    END IF;
    IF (SELECT bookit_rules_version(s) FROM services AS s WHERE s.id = p_service_id AND s.is_active)
       IS DISTINCT FROM p_version THEN
        outcome := 'stale';  -- judged by other rules (or the service went): judge again
        RETURN;
    END IF;
    IF p_refused THEN
        outcome := 'refused';
        RETURN;
    END IF;
    PERFORM pg_advisory_xact_lock(bookit_timetable_lock(p_service_id));
    FOR attempt IN 1 .. p_attempts LOOP
        -- no conflict target: it covers the overlap and the idempotency key
        INSERT INTO bookings (
            id, service_id, user_id, starts_at, ends_at, busy_starts_at, busy_ends_at,
            exclusive, idempotency_key, request_hash
        )
        SELECT p_id, p_service_id, p_user_id, p_starts_at, p_ends_at, p_busy_starts_at,
               p_busy_ends_at, p_exclusive, p_key, p_hash
         WHERE bookit_seats_taken(p_service_id, p_busy_starts_at, p_busy_ends_at, NULL)
               < p_capacity
        ON CONFLICT DO NOTHING
        RETURNING * INTO booking;
        IF FOUND THEN
            PERFORM bookit_record_event(
                booking, 'CREATED', p_type, NULL, p_private, p_event_lock, p_channel
            );
            outcome := 'created';
            RETURN;
        END IF;
        IF p_key IS NOT NULL THEN  -- a parallel retry with this key committed first
            SELECT * INTO booking FROM bookings AS b
             WHERE b.user_id = p_user_id AND b.idempotency_key = p_key;
            IF FOUND THEN
                outcome := 'replay';
                RETURN;
            END IF;
        END IF;
        outcome := 'conflict';
        SELECT w.starts_at, w.ends_at INTO conflict_starts_at, conflict_ends_at
          FROM bookit_in_the_way(p_service_id, p_busy_starts_at, p_busy_ends_at, NULL) AS w;
        IF conflict_starts_at IS NOT NULL THEN
            RETURN;
        END IF;
        -- what was in the way is gone: try again
    END LOOP;
END
$$
""",
    """
CREATE FUNCTION bookit_update_booking(
    p_id uuid, p_user_id uuid, p_admin boolean,
    p_status booking_status, p_status_from booking_status[],
    p_move boolean, p_start_given boolean, p_open booking_status[], p_now timestamptz,
    p_version text, p_basis timestamptz, p_refused boolean, p_rules_refused boolean,
    p_starts_at timestamptz, p_ends_at timestamptz,
    p_busy_starts_at timestamptz, p_busy_ends_at timestamptz, p_exclusive boolean,
    p_capacity integer, p_attempts integer,
    p_cancelled_type text, p_changed_type text, p_moved_type text,
    p_private text[], p_event_lock bigint, p_channel text,
    OUT outcome text, OUT booking bookings, OUT version text,
    OUT conflict_starts_at timestamptz, OUT conflict_ends_at timestamptz
)
LANGUAGE plpgsql AS $$
DECLARE
    service uuid;
    was bookings;
    active boolean;
    new_status booking_status;
    new_starts timestamptz;
    new_ends timestamptz;
    busy_starts timestamptz;
    busy_ends timestamptz;
    moved boolean := false;
    written boolean;
BEGIN
    SELECT b.service_id INTO service FROM bookings AS b
     WHERE b.id = p_id AND (p_admin OR b.user_id = p_user_id);
    IF NOT FOUND THEN
        outcome := 'not_found';
        RETURN;
    END IF;
    PERFORM pg_advisory_xact_lock(bookit_timetable_lock(service));
    -- read again under the locks: what follows judges the current state
    SELECT * INTO was FROM bookings AS b
     WHERE b.id = p_id AND (p_admin OR b.user_id = p_user_id) FOR NO KEY UPDATE;
    IF NOT FOUND THEN
        outcome := 'not_found';
        RETURN;
    END IF;
    booking := was;
    -- p_status_from: the statuses from which the caller may set p_status
    IF p_status IS NOT NULL AND NOT was.status = ANY (p_status_from) THEN
        outcome := 'bad_status';
        RETURN;
    END IF;
    new_status := coalesce(p_status, was.status);
    new_starts := was.starts_at;
    new_ends := was.ends_at;
    IF p_move THEN
        IF NOT was.status = ANY (p_open) THEN
            outcome := 'not_open';
            RETURN;
        END IF;
        SELECT s.is_active, bookit_rules_version(s) INTO active, version
          FROM services AS s WHERE s.id = was.service_id;
        IF NOT active THEN
            outcome := 'inactive';
            RETURN;
        END IF;
        IF NOT p_start_given AND was.starts_at <= p_now THEN
            outcome := 'started';
            RETURN;
        END IF;
        IF version IS DISTINCT FROM p_version
           OR (NOT p_start_given AND was.starts_at IS DISTINCT FROM p_basis) THEN
            outcome := 'plan';  -- the caller judges the move by this service's rules
            RETURN;
        END IF;
        IF p_refused THEN  -- the times themselves (BAD_USER_INPUT)
            outcome := 'refused';
            RETURN;
        END IF;
        new_starts := p_starts_at;
        new_ends := p_ends_at;
        moved := (new_starts, new_ends) IS DISTINCT FROM (was.starts_at, was.ends_at);
        IF moved AND p_rules_refused THEN  -- the service's rules, which only a move must meet
            outcome := 'refused';
            RETURN;
        END IF;
    END IF;
    IF (new_status, new_starts, new_ends)
       IS NOT DISTINCT FROM (was.status, was.starts_at, was.ends_at) THEN
        outcome := 'unchanged';
        RETURN;
    END IF;
    busy_starts := CASE WHEN moved THEN p_busy_starts_at ELSE new_starts END;
    busy_ends := CASE WHEN moved THEN p_busy_ends_at ELSE new_ends END;
    FOR attempt IN 1 .. p_attempts LOOP
        written := false;
        BEGIN  -- a subtransaction: a refusal by the constraint leaves the rest usable
            UPDATE bookings AS b
               SET status = new_status, starts_at = new_starts, ends_at = new_ends,
                   busy_starts_at = CASE WHEN moved THEN p_busy_starts_at ELSE b.busy_starts_at END,
                   busy_ends_at = CASE WHEN moved THEN p_busy_ends_at ELSE b.busy_ends_at END,
                   exclusive = CASE WHEN moved THEN p_exclusive ELSE b.exclusive END,
                   updated_at = now()
             WHERE b.id = p_id
               AND (NOT moved
                    OR bookit_seats_taken(was.service_id, p_busy_starts_at, p_busy_ends_at, p_id)
                       < p_capacity)
            RETURNING * INTO booking;
            written := FOUND;
        EXCEPTION WHEN exclusion_violation THEN
            written := false;
        END;
        IF written THEN
            IF new_status = 'CANCELLED' AND was.status <> 'CANCELLED' THEN
                PERFORM bookit_record_event(
                    booking, 'CANCELLED', p_cancelled_type, NULL, p_private, p_event_lock, p_channel
                );
            ELSE
                PERFORM bookit_record_event(
                    booking, 'UPDATED',
                    CASE WHEN new_status <> was.status THEN p_changed_type ELSE p_moved_type END,
                    NULL, p_private, p_event_lock, p_channel
                );
            END IF;
            outcome := 'updated';
            RETURN;
        END IF;
        booking := was;
        outcome := 'conflict';
        SELECT w.starts_at, w.ends_at INTO conflict_starts_at, conflict_ends_at
          FROM bookit_in_the_way(was.service_id, busy_starts, busy_ends, p_id) AS w;
        IF conflict_starts_at IS NOT NULL THEN
            RETURN;
        END IF;
    END LOOP;
END
$$
""",
    """
CREATE FUNCTION bookit_create_review(
    p_id uuid, p_booking_id uuid, p_user_id uuid, p_admin boolean, p_rating smallint,
    p_comment text, p_type text, p_private text[], p_event_lock bigint, p_channel text,
    OUT outcome text, OUT review reviews
)
LANGUAGE plpgsql AS $$
DECLARE
    b bookings;
BEGIN
    -- FOR SHARE: the booking cannot leave COMPLETED until this review commits,
    -- while concurrent reviewers of it still reach the unique constraint.
    SELECT * INTO b FROM bookings AS x WHERE x.id = p_booking_id FOR SHARE;
    IF NOT FOUND OR (b.user_id <> p_user_id AND NOT p_admin) THEN
        outcome := 'not_found';
    ELSIF b.user_id <> p_user_id THEN
        outcome := 'forbidden';
    ELSIF b.status <> 'COMPLETED' THEN
        outcome := 'not_completed';
    ELSE
        -- the unique constraint decides between racing writers: the loser's insert
        -- waits for the winner's commit, then inserts nothing
        INSERT INTO reviews (id, booking_id, service_id, user_id, rating, comment)
        VALUES (p_id, b.id, b.service_id, p_user_id, p_rating, p_comment)
        ON CONFLICT ON CONSTRAINT uq_reviews_booking_id DO NOTHING
        RETURNING * INTO review;
        IF NOT FOUND THEN
            outcome := 'exists';
        ELSE
            PERFORM bookit_record_event(
                b, NULL, p_type, to_jsonb(review), p_private, p_event_lock, p_channel
            );
            outcome := 'created';
        END IF;
    END IF;
END
$$
""",
]

SIGNATURES = [
    "bookit_create_review(uuid, uuid, uuid, boolean, smallint, text, text, text[], bigint, text)",
    "bookit_update_booking(uuid, uuid, boolean, booking_status, booking_status[], "
    "boolean, boolean, booking_status[], timestamptz, text, timestamptz, boolean, boolean, "
    "timestamptz, timestamptz, timestamptz, timestamptz, boolean, integer, integer, text, text, "
    "text, text[], bigint, text)",
    "bookit_create_booking(uuid, uuid, uuid, timestamptz, timestamptz, timestamptz, timestamptz, "
    "boolean, integer, text, text, text, boolean, integer, text, text[], bigint, text)",
    "bookit_seats_taken(uuid, timestamptz, timestamptz, uuid)",
    "bookit_in_the_way(uuid, timestamptz, timestamptz, uuid)",
    "bookit_record_event(bookings, booking_event_kind, text, jsonb, text[], bigint, text)",
    "bookit_timetable_lock(uuid)",
    "bookit_rules_version(services)",
]


def upgrade() -> None:
    for function in FUNCTIONS:
        op.execute(function)


def downgrade() -> None:
    for signature in SIGNATURES:
        op.execute(f"DROP FUNCTION {signature}")

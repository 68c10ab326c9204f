-- Port facts the clearance depends on: what the port's own messages and the movement ledger
-- (sql/ledger.sql) say about gate-ins and gate-outs.

-- Port-side movements the clearance depends on, from the outbox (the port's own messages):
-- a message counts once it is queued or sent and not rejected, cancelled or invalid.
CREATE FUNCTION _counts(status text) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT status IN ('pending_approval', 'queued', 'sending', 'sent', 'accepted')
$$;
CREATE INDEX outbox_gate_out_by_container ON outbox ((data ->> 'SO_CONTAINER')) WHERE message_type = '21';
CREATE INDEX outbox_bulk_out_by_bl ON outbox (vasscm._norm(data ->> 'SO_VAN_DON')) WHERE message_type = '22';
CREATE INDEX outbox_by_type_container ON outbox (message_type, (data ->> 'SO_CONTAINER'));

-- Gate-outs (21 container, 22 bulk trip) that happened, from the movement ledger: whatever
-- became of their message (queued, dead, rejected, invalid all count), as corrected in the
-- TOS, without the ones the TOS undid, nor one customs cancelled on the port's request (an
-- accepted CANCEL_PASSED asked by an operator).
CREATE VIEW gate_outs AS
SELECT o.id, o.transaction_id, m.message_type, o.status, m.container_no, m.bl_no, m.declarations,
       m.quantity, m.weight_kg, m.volume_m3, m.vehicle AS conveyance, m.vehicle_no AS conveyance_no,
       m.happened_at AS left_at, m.recorded_at AS created_at, m.id AS movement_id, m.quantity_unit
  FROM vasscm.movement m
  LEFT JOIN vasscm.outbox o ON o.id = m.outbox_id
 WHERE m.kind = 'gate_out' AND m.undone_at IS NULL
   AND NOT EXISTS (SELECT 1 FROM vasscm.outbox c
                    WHERE c.message_type = 'CANCEL_PASSED' AND c.original_transaction_id = o.transaction_id
                      AND c.status = 'accepted');
COMMENT ON VIEW gate_outs IS 'Gate-outs (21 container, 22 bulk per trip) that happened (movement ledger), whatever their message''s status; without those undone in the TOS or cancelled by an accepted CANCEL_PASSED.';

-- Gate-ins (14 / 15) as they stand after amendments (16) and cancellations (17).
CREATE VIEW gate_ins AS
SELECT o.id, o.transaction_id, o.message_type, o.status,
       coalesce(a.data, o.data) AS data,
       coalesce(a.data, o.data) ->> 'SO_CONTAINER' AS container_no,
       vasscm._norm(coalesce(a.data, o.data) ->> 'SO_VAN_DON') AS bl_no,
       vasscm._vessel_call_of(coalesce(a.data, o.data)) AS vessel_call,
       (coalesce(a.data, o.data) ->> 'THOI_GIAN')::timestamptz AS entered_at
  FROM vasscm.outbox o
  LEFT JOIN LATERAL (SELECT x.data FROM vasscm.outbox x
                      WHERE x.original_transaction_id = o.transaction_id AND x.message_type = '16' AND vasscm._counts(x.status)
                      ORDER BY x.id DESC LIMIT 1) a ON true
 WHERE o.message_type IN ('14', '15') AND vasscm._counts(o.status)
   AND NOT EXISTS (SELECT 1 FROM vasscm.outbox c
                    WHERE c.original_transaction_id = o.transaction_id AND c.message_type = '17' AND vasscm._counts(c.status));
COMMENT ON VIEW gate_ins IS 'Gate-ins (14 container, 15 bulk) as amended (16), without the cancelled ones (17).';

-- Has a container left under a declaration, in its current visit? A gate-out (21) in the
-- ledger listing that declaration (or none: an empty box), not followed by a later gate-in of
-- the same box (it came back: a new visit).
CREATE FUNCTION _gone(container_no text, declaration_no text) RETURNS boolean
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT EXISTS (SELECT 1 FROM vasscm.gate_outs g
                    WHERE g.container_no = _gone.container_no AND g.message_type = '21'
                      AND (_gone.declaration_no = ANY (g.declarations) OR cardinality(g.declarations) = 0)
                      AND NOT EXISTS (SELECT 1 FROM vasscm.movement i
                                       WHERE i.container_no = _gone.container_no AND i.kind = 'gate_in'
                                         AND i.undone_at IS NULL AND i.happened_at > g.left_at))
$$;

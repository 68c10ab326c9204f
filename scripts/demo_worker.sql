-- vasscm demo, part 3: after the worker ran.
\pset pager off
\echo '--- Every message was signed on the token, sent, and answered by customs (simulator):'
SELECT message_type AS form, status, count(*) FROM vasscm.outbox GROUP BY 1, 2 ORDER BY 1;

\echo '--- The life of the gate-out (form 21), from its status history:'
SELECT h.at::time(3) AS at, h.from_status, h.to_status, h.actor, h.reason
  FROM vasscm.outbox_history h JOIN vasscm.outbox o ON o.id = h.outbox_id
 WHERE o.message_type = '21' ORDER BY h.id;

\echo '--- What was sent and received for it (append-only message log):'
SELECT l.at::time(3) AS at, l.direction, l.kind, l.http_status, length(l.body) AS bytes,
       substring(l.body from '<ds:SignatureMethod Algorithm="([^"]+)"') AS signature,
       substring(l.body from '<Message_Type>([^<]+)</Message_Type>') AS message_type
  FROM vasscm.message_log l JOIN vasscm.outbox o USING (transaction_id)
 WHERE o.message_type = '21' ORDER BY l.id;

\echo '--- Customs → port: form 04 received, signature verified against customs'' certificate, stored once:'
SELECT message_type, transaction_id, data -> 'SO_TK' AS declaration, data -> 'LIST_CONTAINER' AS containers FROM vasscm.inbox;

\echo '--- Operations: the audit chains verify (append-only, hash-chained message log and history):'
SELECT table_name, rows_checked, unsealed, first_broken_id, left(head_hash, 16) AS head FROM vasscm.verify_audit();

\echo '--- Monitoring: queue depth, error rates, latency of the last hour:'
SELECT status, message_type, messages FROM vasscm.queue_depth ORDER BY status, message_type;
SELECT period, accepted, rejected, send_errors, rejection_rate FROM vasscm.error_rates;
SELECT message_type, messages, sign_ms_p50, send_ms_p50, total_ms_p50 FROM vasscm.latency ORDER BY message_type;

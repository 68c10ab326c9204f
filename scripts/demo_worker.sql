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

-- vasscm demo, part 2: what the replicated TOS rows became.
\pset pager off
\echo '--- The outbox: one row per message, with its stable transaction_id'
SELECT id, message_type AS form, status, coalesce(data ->> 'SO_CONTAINER', data ->> 'SO_VAN_DON') AS container_or_bl,
       left(transaction_id::text, 8) || '…' AS transaction_id, source_table, source_key
  FROM vasscm.outbox ORDER BY id;

\echo '--- The truck gate-in with a mistyped container number was recorded as invalid, with the reason;'
\echo '--- the TOS correction fixed it in place (same transaction_id). Its history:'
SELECT h.outbox_id, h.from_status, h.to_status, h.actor, left(h.reason, 110) AS reason
  FROM vasscm.outbox_history h JOIN vasscm.outbox o ON o.id = h.outbox_id
 WHERE o.source_table = 'public.tos_container_move' AND o.source_key = '{"move_id": 2}' ORDER BY h.id;

\echo '--- The queued gate-out (form 21), ready for the worker to sign and send:'
\pset format unaligned
\pset tuples_only on
SELECT message FROM vasscm.outbox WHERE message_type = '21';
\pset format aligned
\pset tuples_only off

\echo '--- Replication kept streaming throughout:'
SELECT subname, pid IS NOT NULL AS apply_worker_running, received_lsn IS NOT NULL AS receiving FROM pg_stat_subscription;

-- vasscm demo, part 4: the clearance state customs' messages made, as a TOS report and a gate.
\pset pager off
\echo '--- A TOS report: every container the TOS knows, with its customs clearance (one LATERAL join):'
SELECT m.container_no, m.yard_position, c.declaration_no, c.channel_name AS channel, c.state, c.set_by_form AS by_form,
       c.carrier_seal
  FROM tos_container_move m
  LEFT JOIN LATERAL vasscm.clearance(m.container_no) c ON true
 ORDER BY m.move_id;

\echo '--- Everything on declaration 308044805740:'
SELECT container_no, state, quantity_out, eligible_at FROM vasscm.clearance_by_declaration('308044805740');

\echo '--- The gate asks: may TGHU7654320 leave with carrier seal ML100002? And with ML999?'
SELECT 'ML100002' AS seal, * FROM vasscm.gate_out_check('TGHU7654320', 'ML100002', NULL)
UNION ALL
SELECT 'ML999', * FROM vasscm.gate_out_check('TGHU7654320', 'ML999', NULL);

\echo '--- MSKU1234565 already left by truck (form 21 accepted): a second gate-out is refused:'
SELECT * FROM vasscm.gate_out_check('MSKU1234565', 'ML777001', NULL);

\echo '--- Bulk B/L HPBL0001 (5,000 t declared): a 30 t truck, then a 6,000 t barge:'
SELECT '30 t' AS trip, * FROM vasscm.gate_out_check_bulk('101234567890', 'HPBL0001', NULL, 30000, NULL)
UNION ALL
SELECT '6000 t', * FROM vasscm.gate_out_check_bulk('101234567890', 'HPBL0001', NULL, 6000000, NULL);

\echo '--- Operations: the audit chains verify (append-only, hash-chained message log and history):'
SELECT table_name, rows_checked, unsealed, first_broken_id, left(head_hash, 16) AS head FROM vasscm.verify_audit();

\echo '--- Monitoring: queue depth, error rates, latency of the last hour:'
SELECT status, message_type, messages FROM vasscm.queue_depth ORDER BY status, message_type;
SELECT period, accepted, rejected, send_errors, rejection_rate FROM vasscm.error_rates;
SELECT message_type, messages, sign_ms_p50, send_ms_p50, total_ms_p50 FROM vasscm.latency ORDER BY message_type;

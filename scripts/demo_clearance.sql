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


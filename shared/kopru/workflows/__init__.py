"""Tenant workflows: "when this happens, do that".

A tenant saves `{name, trigger: {type, filter, condition}, steps: [{action, input}]}`:

- `trigger.type` is a catalog event type whose consumers include the `workflows` function
  (events/catalog.json; `expressions.trigger_types()`);
- `trigger.filter` is a list of CloudEvents Subscriptions API filters (`exact`, `prefix`,
  `suffix`, `all`, `any`, `not`; kopru.events.filters, the same filters a webhook endpoint
  and a Knative Trigger take). They compare strings;
- `trigger.condition` (optional) is a JMESPath expression over the event
  (`{type, source, id, subject, time, data}`) that must give `true`: how a numeric
  comparison is written, since the filter dialects have none and amounts travel as decimal
  strings: ``to_number(data.amount) >= `1000` ``. JMESPath's `to_number` gives a double,
  which orders decimal strings of up to 15 significant digits exactly (amounts in the
  catalog have at most 12), so `999.99` never passes a `>= 1000`;
- each step names an action of the one registry (`actions.ACTIONS`: input model, scope,
  consent rules, how it runs) and maps each input field from the event with a JMESPath
  expression (`"data.payment_id"`, `"join('', ['Ödeme: ', data.amount, ' TL'])"`) or a
  constant (`{"const": value}`).

A workflow is checked when saved (`service.check`): the trigger type, the filter, the
condition and every expression compile; each step's action exists, the saving client holds
its scope, and its input model accepts what the mapping gives from a sample event made from
the trigger's schema (events/schemas/<type>.json); the plan's `workflows` limit holds.

Runs (`engine`): the `workflows` function consumes the trigger types; in the event's inbox
transaction one `workflow_runs` row per matching enabled workflow and event (a snapshot of
the steps and the event), then the steps in order, each once: its side effect goes through
the action's own once-only mechanism under the Idempotency-Key `wf-<run id>-<step>`, and
the run's row records the step reached after each step. See `engine` for crashes, retries
and resumption.
"""

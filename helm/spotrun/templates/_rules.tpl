{{/*
Alert rule groups, shared by the GMP `Rules` and the prometheus-operator `PrometheusRule`.
Metric names follow agent_client/_metrics.py and the bot's ops server.
*/}}
{{- define "spotrun.alertGroups" -}}
{{- $r := .Values.metrics.rules }}
{{- $job := include "spotrun.metricsJob" . }}
{{- $labels := merge (dict "service" "spotrun") $r.alertLabels -}}
- name: spotrun
  interval: 1m
  rules:
    - alert: SpotrunAgentErrorRateHigh
      expr: |-
        (
          sum by (agent) (rate(spotrun_agent_calls_total{outcome!="ok"}[10m]))
          /
          sum by (agent) (rate(spotrun_agent_calls_total[10m]))
        ) > {{ $r.agentErrorRatio }}
      for: 10m
      labels:
        {{- toYaml (merge (dict "severity" "warning") $labels) | nindent 8 }}
      annotations:
        summary: "Agent {{ "{{ $labels.agent }}" }} fails {{ "{{ $value | humanizePercentage }}" }} of calls"
        description: More than {{ mulf $r.agentErrorRatio 100 }}% of calls to the agent did not end ok for 10 minutes. Check the Cloud Run service's logs and revisions.
    - alert: SpotrunAgentBreakerOpen
      expr: max by (agent) (spotrun_agent_breaker_state) == 2
      for: 2m
      labels:
        {{- toYaml (merge (dict "severity" "warning") $labels) | nindent 8 }}
      annotations:
        summary: "Circuit breaker open for agent {{ "{{ $labels.agent }}" }}"
        description: The bot stopped calling the agent after repeated failures; its commands are rejected until the breaker closes.
    - alert: SpotrunBudgetAt80Percent
      expr: max by (guild) (spotrun_budget_used_ratio) >= {{ $r.budgetUsedRatio }}
      for: 5m
      labels:
        {{- toYaml (merge (dict "severity" "warning") $labels) | nindent 8 }}
      annotations:
        summary: "guild {{ "{{ $labels.guild }}" }} has used {{ "{{ $value | humanizePercentage }}" }} of its monthly budget"
        description: New jobs in that server are refused at 100% until the 1st of next month (UTC); an admin can raise or lift it with /budget.
    - alert: SpotrunBacklogGrowing
      expr: |-
        sum(deriv(spotrun_jobs_queue_depth[{{ $r.backlogWindow }}])) > 0
        and
        sum(spotrun_jobs_queue_depth) >= {{ $r.backlogMinDepth }}
      for: {{ $r.backlogWindow }}
      labels:
        {{- toYaml (merge (dict "severity" "warning") $labels) | nindent 8 }}
      annotations:
        summary: "Job backlog keeps growing ({{ "{{ $value }}" }} jobs/s)"
        description: Jobs are queued faster than the agents finish them. Check agent concurrency limits and errors.
    - alert: SpotrunBotNotReady
      expr: |-
        (up{job="{{ $job }}"} == 0)
        or
        (max(spotrun_ready) == 0)
        or
        absent(up{job="{{ $job }}"})
      for: 5m
      labels:
        {{- toYaml (merge (dict "severity" "critical") $labels) | nindent 8 }}
      annotations:
        summary: The spotrun bot is down or not ready
        description: No ready bot for 5 minutes (a Spot preemption normally recovers in 1-2 minutes). Check `kubectl rollout status` and the pod events.
    - alert: SpotrunShardWithoutHolder
      # spotrun_shard_owned{shard="N"} is 1 on the pod holding shard N's lease (a standby holds none).
      expr: sum(spotrun_shard_owned) < max(spotrun_shard_count)
      for: 1m
      labels:
        {{- toYaml (merge (dict "severity" "critical") $labels) | nindent 8 }}
      annotations:
        summary: "{{ "{{ $value }}" }} shards are held by a bot pod, fewer than the shard count"
        description: The guilds of an unheld shard get no answers. A standby takes a lapsed lease within seconds, so for a minute this means no pod is left to take it (all down, or every pod crash-looping or refused IDENTIFY). Check `kubectl get pods` and the bot's /status.
{{- end }}

{{/* Chart name, overridable. */}}
{{- define "spotrun.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Fully qualified app name (63 chars: the DNS label limit). */}}
{{- define "spotrun.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/* Chart label value. */}}
{{- define "spotrun.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels on every resource. */}}
{{- define "spotrun.labels" -}}
helm.sh/chart: {{ include "spotrun.chart" . }}
{{ include "spotrun.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: spotrun
{{- end }}

{{/* Selector labels: stable across upgrades, so nothing version-specific here. */}}
{{- define "spotrun.selectorLabels" -}}
app.kubernetes.io/name: {{ include "spotrun.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: bot
{{- end }}

{{/* Service account name. */}}
{{- define "spotrun.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "spotrun.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* Image reference; the tag defaults to the appVersion. */}}
{{- define "spotrun.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{/* The Secret holding the Discord token, and its key. */}}
{{- define "spotrun.secretName" -}}
{{- if .Values.discord.existingSecret }}
{{- .Values.discord.existingSecret }}
{{- else }}
{{- include "spotrun.fullname" . }}
{{- end }}
{{- end }}

{{- define "spotrun.secretKey" -}}
{{- if .Values.discord.existingSecret }}
{{- .Values.discord.existingSecretKey }}
{{- else -}}
token
{{- end }}
{{- end }}

{{/*
terminationGracePeriodSeconds: the drain budget plus a margin, never above the 15 s GKE gives a Spot pod
on preemption (a longer grace period has no effect there and would hide a too-long drain budget).
*/}}
{{- define "spotrun.gracePeriod" -}}
{{- min 15 (add (int .Values.bot.drainBudgetSeconds) (int .Values.bot.terminationMarginSeconds)) }}
{{- end }}

{{/* "true" when the pod is pinned to Spot nodes by the nodeSelector. */}}
{{- define "spotrun.onSpot" -}}
{{- if eq (toString (index .Values.nodeSelector "cloud.google.com/gke-spot" | default "")) "true" }}true{{ else }}false{{ end }}
{{- end }}

{{/* The agent registry file (agent_client format), also hashed into the pod annotation. */}}
{{- define "spotrun.registry" -}}
{{- dict "agents" .Values.agents | toYaml }}
{{- end }}

{{/* Metric job name shared by the PodMonitoring/ServiceMonitor and the alert rules. */}}
{{- define "spotrun.metricsJob" -}}
{{- include "spotrun.fullname" . }}
{{- end }}

{{/*
"true" in PostgreSQL mode: a database is configured (Cloud SQL, a URL, or a URL in a Secret). Then the bot runs
as a StatefulSet of replicaCount pods that lease shards in the store; otherwise as one pod with SQLite on a PVC.
*/}}
{{- define "spotrun.postgres" -}}
{{- if or .Values.cloudSql.instanceConnectionName .Values.database.url .Values.database.existingSecret }}true{{ else }}false{{ end }}
{{- end }}

{{/* The Cloud SQL IAM database user: the bot's GSA email without ".gserviceaccount.com", unless given. */}}
{{- define "spotrun.cloudSqlUser" -}}
{{- if .Values.cloudSql.iamUser }}
{{- .Values.cloudSql.iamUser }}
{{- else }}
{{- .Values.serviceAccount.gcpServiceAccount | trimSuffix ".gserviceaccount.com" }}
{{- end }}
{{- end }}

{{/*
The job store URL through the Cloud SQL Auth Proxy: the IAM user (its "@" escaped), no password (the proxy's
--auto-iam-authn logs in with the pod's Workload Identity token), on loopback. sslmode=disable: the proxy
encrypts to the instance itself; the hop to it never leaves the pod.
*/}}
{{- define "spotrun.cloudSqlUrl" -}}
{{- printf "postgresql://%s@127.0.0.1:%d/%s?sslmode=disable" (include "spotrun.cloudSqlUser" . | replace "@" "%40") (int .Values.cloudSql.port) .Values.cloudSql.database }}
{{- end }}

{{/* Mistakes the schema cannot express, each with a message that names the values to fix. */}}
{{- define "spotrun.validate" -}}
{{- if and .Values.discord.token .Values.discord.existingSecret }}
{{- fail "set either discord.token or discord.existingSecret, not both" }}
{{- end }}
{{- if not (or .Values.discord.token .Values.discord.existingSecret) }}
{{- fail "the Discord token is missing: set discord.existingSecret (recommended) or discord.token" }}
{{- end }}
{{- $sources := 0 }}
{{- range (list .Values.cloudSql.instanceConnectionName .Values.database.url .Values.database.existingSecret) }}
{{- if . }}{{ $sources = add1 $sources }}{{ end }}
{{- end }}
{{- if gt $sources 1 }}
{{- fail "set one database only: cloudSql.instanceConnectionName, database.url or database.existingSecret" }}
{{- end }}
{{- if and .Values.cloudSql.instanceConnectionName (has (int .Values.bot.opsPort) (list (int .Values.cloudSql.port) (int .Values.cloudSql.healthPort))) }}
{{- fail "cloudSql.port and cloudSql.healthPort must differ from bot.opsPort: the proxy and the bot share the pod's network" }}
{{- end }}
{{- if and .Values.cloudSql.instanceConnectionName (not (include "spotrun.cloudSqlUser" .)) }}
{{- fail "cloudSql needs the bot's IAM database user: set serviceAccount.gcpServiceAccount (Workload Identity; the user is its email without .gserviceaccount.com) or cloudSql.iamUser" }}
{{- end }}
{{- end }}

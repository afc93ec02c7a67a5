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

{{/*
The bot pod, shared by both modes: the SQLite Deployment (one pod, the store on a PVC at /data) and the
PostgreSQL StatefulSet (replicaCount pods, no disk, shards leased in the store; with Cloud SQL, the Auth
Proxy as a native sidecar).
*/}}
{{- define "spotrun.podTemplate" -}}
{{- $postgres := eq (include "spotrun.postgres" .) "true" -}}
metadata:
  annotations:
    checksum/config: {{ include (print $.Template.BasePath "/configmap.yaml") . | sha256sum }}
    {{- if not .Values.discord.existingSecret }}
    checksum/secret: {{ include (print $.Template.BasePath "/secret.yaml") . | sha256sum }}
    {{- end }}
    {{- with .Values.podAnnotations }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  labels:
    {{- include "spotrun.selectorLabels" . | nindent 4 }}
    {{- with .Values.podLabels }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
spec:
  serviceAccountName: {{ include "spotrun.serviceAccountName" . }}
  {{- with .Values.imagePullSecrets }}
  imagePullSecrets:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  # Drain budget + margin, capped at the 15 s a Spot node gives on preemption.
  terminationGracePeriodSeconds: {{ include "spotrun.gracePeriod" . }}
  {{- with .Values.podSecurityContext }}
  securityContext:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- if .Values.cloudSql.instanceConnectionName }}
  initContainers:
    # Native sidecar (restartPolicy: Always): the bot starts once the proxy's startup probe passes, and
    # the proxy is stopped only after the bot has exited, so the drain after SIGTERM can still write.
    - name: cloud-sql-proxy
      image: {{ printf "%s:%s" .Values.cloudSql.image.repository .Values.cloudSql.image.tag | quote }}
      imagePullPolicy: {{ .Values.cloudSql.image.pullPolicy }}
      restartPolicy: Always
      args:
        # IAM database authentication with the pod's Workload Identity token: no password anywhere.
        - --auto-iam-authn
        {{- if .Values.cloudSql.privateIp }}
        - --private-ip
        {{- end }}
        - --structured-logs
        - --port={{ .Values.cloudSql.port }}
        # /startup, /liveness on the health port; 0.0.0.0 so the kubelet can reach them.
        - --health-check
        - --http-address=0.0.0.0
        - --http-port={{ .Values.cloudSql.healthPort }}
        - --exit-zero-on-sigterm
        {{- range .Values.cloudSql.extraArgs }}
        - {{ . | quote }}
        {{- end }}
        - {{ .Values.cloudSql.instanceConnectionName | quote }}
      ports:
        - name: proxy-health
          containerPort: {{ .Values.cloudSql.healthPort }}
          protocol: TCP
      startupProbe:
        httpGet:
          path: /startup
          port: proxy-health
        periodSeconds: 1
        timeoutSeconds: 5
        failureThreshold: 30
      # No readinessProbe: a database blip must not take every pod out of the Service at once; the bot's
      # /readyz already reports the store. Liveness as the proxy's docs advise: a certificate refresh
      # starts 5 minutes before expiry, so 5 × 60 s of failures means the proxy is stuck.
      livenessProbe:
        httpGet:
          path: /liveness
          port: proxy-health
        periodSeconds: 60
        timeoutSeconds: 30
        failureThreshold: 5
      {{- with .Values.cloudSql.resources }}
      resources:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with .Values.securityContext }}
      securityContext:
        {{- toYaml . | nindent 8 }}
      {{- end }}
  {{- end }}
  containers:
    - name: bot
      image: {{ include "spotrun.image" . | quote }}
      imagePullPolicy: {{ .Values.image.pullPolicy }}
      args: ["bot"]
      ports:
        - name: ops
          containerPort: {{ .Values.bot.opsPort }}
          protocol: TCP
      env:
        - name: SPOTRUN_DISCORD_TOKEN
          valueFrom:
            secretKeyRef:
              name: {{ include "spotrun.secretName" . }}
              key: {{ include "spotrun.secretKey" . }}
        - name: SPOTRUN_DATABASE_URL
          {{- if .Values.cloudSql.instanceConnectionName }}
          value: {{ include "spotrun.cloudSqlUrl" . | quote }}
          {{- else if .Values.database.existingSecret }}
          valueFrom:
            secretKeyRef:
              name: {{ .Values.database.existingSecret }}
              key: {{ .Values.database.existingSecretKey }}
          {{- else if .Values.database.url }}
          value: {{ .Values.database.url | quote }}
          {{- else }}
          value: "sqlite:////data/spotrun.db"
          {{- end }}
        {{- if $postgres }}
        - name: SPOTRUN_DATABASE_POOL_MAX
          value: {{ .Values.database.poolMax | quote }}
        # Shards: the bot takes its ordinal from the pod name's -N suffix and asks for its share of
        # SPOTRUN_SHARD_COUNT; a pod that finds a shard leased by a live pod stands by for it.
        - name: SPOTRUN_REPLICAS
          value: {{ .Values.replicaCount | quote }}
        - name: SPOTRUN_SHARD_COUNT
          value: {{ .Values.sharding.shardCount | quote }}
        {{- else if .Values.sharding.shardCount }}
        - name: SPOTRUN_SHARD_COUNT
          value: {{ .Values.sharding.shardCount | quote }}
        {{- end }}
        {{- with .Values.sharding.shardIds }}
        - name: SPOTRUN_SHARD_IDS
          value: {{ join "," . | quote }}
        {{- end }}
        {{- if .Values.sharding.zoneFromPodLabel }}
        - name: SPOTRUN_ZONE
          valueFrom:
            fieldRef:
              fieldPath: metadata.labels['topology.kubernetes.io/zone']
        {{- end }}
        - name: SPOTRUN_CLIENT_REGISTRY_FILE
          value: /etc/spotrun/agents.yaml
        - name: SPOTRUN_OPS_PORT
          value: {{ .Values.bot.opsPort | quote }}
        - name: SPOTRUN_DRAIN_BUDGET_S
          value: {{ .Values.bot.drainBudgetSeconds | quote }}
        - name: SPOTRUN_LOG_FORMAT
          value: {{ .Values.bot.logFormat | quote }}
        - name: SPOTRUN_LOG_LEVEL
          value: {{ .Values.bot.logLevel | quote }}
        {{- with .Values.bot.syncGuildIds }}
        - name: SPOTRUN_SYNC_GUILD_IDS
          value: {{ join "," . | quote }}
        {{- end }}
        {{- with .Values.bot.ownerIds }}
        - name: SPOTRUN_OWNER_IDS
          value: {{ join "," . | quote }}
        {{- end }}
        - name: SPOTRUN_NODE_NAME
          valueFrom:
            fieldRef:
              fieldPath: spec.nodeName
        - name: SPOTRUN_POD_NAME
          valueFrom:
            fieldRef:
              fieldPath: metadata.name
        - name: SPOTRUN_NODE_SPOT
          value: {{ include "spotrun.onSpot" . | quote }}
        {{- with .Values.bot.googleCloudProject }}
        - name: GOOGLE_CLOUD_PROJECT
          value: {{ . | quote }}
        {{- end }}
        {{- with .Values.bot.extraEnv }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      # The same probes for an active pod and a standby: a standby runs jobs, so it is ready when its
      # store and registry are, whether or not it holds a shard's gateway session.
      livenessProbe:
        httpGet:
          path: /healthz
          port: ops
        initialDelaySeconds: {{ .Values.probes.liveness.initialDelaySeconds }}
        periodSeconds: {{ .Values.probes.liveness.periodSeconds }}
        timeoutSeconds: {{ .Values.probes.liveness.timeoutSeconds }}
        failureThreshold: {{ .Values.probes.liveness.failureThreshold }}
      readinessProbe:
        httpGet:
          path: /readyz
          port: ops
        initialDelaySeconds: {{ .Values.probes.readiness.initialDelaySeconds }}
        periodSeconds: {{ .Values.probes.readiness.periodSeconds }}
        timeoutSeconds: {{ .Values.probes.readiness.timeoutSeconds }}
        failureThreshold: {{ .Values.probes.readiness.failureThreshold }}
      {{- with .Values.resources }}
      resources:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with .Values.securityContext }}
      securityContext:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      volumeMounts:
        {{- if not $postgres }}
        - name: data
          mountPath: /data
        {{- end }}
        - name: tmp
          mountPath: /tmp
        - name: registry
          mountPath: /etc/spotrun
          readOnly: true
  volumes:
    {{- if not $postgres }}
    - name: data
      {{- if .Values.persistence.enabled }}
      persistentVolumeClaim:
        claimName: {{ .Values.persistence.existingClaim | default (include "spotrun.fullname" .) }}
      {{- else }}
      # persistence.enabled=false: UNSAFE, the job store is lost with the pod (every Spot preemption).
      emptyDir: {}
      {{- end }}
    {{- end }}
    - name: tmp
      emptyDir:
        sizeLimit: {{ .Values.tmpSizeLimit }}
    - name: registry
      configMap:
        name: {{ include "spotrun.fullname" . }}-agents
        items:
          - key: agents.yaml
            path: agents.yaml
  {{- with .Values.nodeSelector }}
  nodeSelector:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .Values.tolerations }}
  tolerations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .Values.affinity }}
  affinity:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- if and $postgres (or .Values.topologySpread.zone .Values.topologySpread.node) }}
  # Zones first (a zone lost or out of Spot capacity, the pods elsewhere carry on), then nodes (one
  # preempted node takes one pod, not the active and its standby together).
  topologySpreadConstraints:
    {{- range $when := list (list "topology.kubernetes.io/zone" .Values.topologySpread.zone) (list "kubernetes.io/hostname" .Values.topologySpread.node) }}
    {{- if index $when 1 }}
    - maxSkew: 1
      topologyKey: {{ index $when 0 }}
      whenUnsatisfiable: {{ index $when 1 }}
      labelSelector:
        matchLabels:
          {{- include "spotrun.selectorLabels" $ | nindent 10 }}
    {{- end }}
    {{- end }}
  {{- end }}
{{- end }}

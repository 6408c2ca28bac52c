{{/* Names and labels shared by every object of the release. */}}
{{- define "tidewire.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "tidewire.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{/* Selector of one component: ingest, projector, outbound or edge. Call with (list . "edge"). */}}
{{- define "tidewire.selector" -}}
{{- $ctx := index . 0 -}}
app.kubernetes.io/name: {{ $ctx.Chart.Name }}
app.kubernetes.io/instance: {{ $ctx.Release.Name }}
app.kubernetes.io/component: {{ index . 1 }}
{{- end -}}

{{/* Restart pods when their settings or the token key change. */}}
{{- define "tidewire.checksums" -}}
checksum/config: {{ include (print .Template.BasePath "/configmap.yaml") . | sha256sum }}
checksum/secret: {{ include (print .Template.BasePath "/secret.yaml") . | sha256sum }}
{{- end -}}

{{- define "tidewire.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}

{{- define "tidewire.jwtSecretName" -}}
{{- if .Values.jwt.existingSecret -}}
{{ .Values.jwt.existingSecret }}
{{- else -}}
{{ include "tidewire.fullname" . }}-jwt
{{- end -}}
{{- end -}}

{{/* Settings every process reads (the ConfigMap), plus the token key from its Secret. */}}
{{- define "tidewire.env" -}}
envFrom:
  - configMapRef:
      name: {{ include "tidewire.fullname" . }}
env:
  - name: TIDEWIRE_JWT_SECRET
    valueFrom:
      secretKeyRef:
        name: {{ include "tidewire.jwtSecretName" . }}
        key: {{ .Values.jwt.secretKey }}
  {{- include "tidewire.cassandraAuthEnv" . | nindent 2 }}
  {{- with .Values.redis.auth.existingSecret }}
  - name: TIDEWIRE_REDIS_PASSWORD
    valueFrom:
      secretKeyRef: {name: {{ . }}, key: {{ $.Values.redis.auth.passwordKey }}}
  {{- end }}
{{- end -}}

{{/* The admin token key, for ingest only (the one process serving /admin). */}}
{{- define "tidewire.adminEnv" -}}
{{- if or .Values.jwt.adminSecret .Values.jwt.adminExistingSecret }}
- name: TIDEWIRE_ADMIN_JWT_SECRET
  valueFrom:
    secretKeyRef:
      name: {{ .Values.jwt.adminExistingSecret | default (printf "%s-admin-jwt" (include "tidewire.fullname" .)) }}
      key: {{ .Values.jwt.adminSecretKey }}
{{- end }}
{{- end -}}

{{/* Gateway mode's settings, for the edges only (the one process that reads them): the
helpdesk's JWT secret from a Secret, the rest as values. Nothing in platform mode. */}}
{{- define "tidewire.gatewayEnv" -}}
{{- with .Values.gateway }}
{{- if .family }}
- {name: TIDEWIRE_GATEWAY, value: {{ .family | quote }}}
{{- if or .jwtSecret .existingSecret }}
- name: TIDEWIRE_GATEWAY_JWT_SECRET
  valueFrom:
    secretKeyRef:
      name: {{ .existingSecret | default (printf "%s-gateway-jwt" (include "tidewire.fullname" $)) }}
      key: {{ .secretKey }}
{{- end }}
{{- if .redisUrlExistingSecret }}
- name: TIDEWIRE_GATEWAY_REDIS_URL
  valueFrom:
    secretKeyRef: {name: {{ .redisUrlExistingSecret }}, key: {{ .redisUrlKey }}}
{{- else if .redisUrl }}
- {name: TIDEWIRE_GATEWAY_REDIS_URL, value: {{ .redisUrl | quote }}}
{{- end }}
- {name: TIDEWIRE_GATEWAY_JWT_SECRET_REDIS_KEY, value: {{ .jwtSecretRedisKey | quote }}}
- {name: TIDEWIRE_GATEWAY_COMPANY_ID, value: {{ .companyId | toString | quote }}}
- {name: TIDEWIRE_GATEWAY_NAMESPACE_PATTERN, value: {{ .namespacePattern | quote }}}
- {name: TIDEWIRE_GATEWAY_EXPIRED_GRACE_S, value: {{ .expiredGraceSeconds | quote }}}
- {name: TIDEWIRE_GATEWAY_CONNECT_PROXY_URL, value: {{ .connectProxyUrl | quote }}}
- {name: TIDEWIRE_GATEWAY_JOIN_PROXY_URL, value: {{ .joinProxyUrl | quote }}}
- {name: TIDEWIRE_GATEWAY_PROXY_TIMEOUT_S, value: {{ .proxyTimeoutSeconds | quote }}}
- {name: TIDEWIRE_GATEWAY_PROXY_CACHE_S, value: {{ .proxyCacheSeconds | quote }}}
{{- end }}
{{- end }}
{{- end -}}

{{- define "tidewire.cassandraAuthEnv" -}}
{{- with .Values.cassandra.auth.existingSecret }}
- name: TIDEWIRE_CASSANDRA_USERNAME
  valueFrom:
    secretKeyRef: {name: {{ . }}, key: {{ $.Values.cassandra.auth.usernameKey }}}
- name: TIDEWIRE_CASSANDRA_PASSWORD
  valueFrom:
    secretKeyRef: {name: {{ . }}, key: {{ $.Values.cassandra.auth.passwordKey }}}
{{- end }}
{{- end -}}

{{/* The writable places of a read-only container: faust's data folder and /tmp. */}}
{{- define "tidewire.volumeMounts" -}}
volumeMounts:
  - {name: state, mountPath: /var/lib/tidewire}
  - {name: tmp, mountPath: /tmp}
{{- end -}}
{{- define "tidewire.volumes" -}}
volumes:
  - {name: state, emptyDir: {}}
  - {name: tmp, emptyDir: {}}
{{- end -}}

{{- define "tidewire.podSpecCommon" -}}
{{- with .Values.imagePullSecrets }}
imagePullSecrets: {{ toYaml . | nindent 2 }}
{{- end }}
securityContext: {{ toYaml .Values.podSecurityContext | nindent 2 }}
{{- end -}}

{{/* HTTP probes on the process's own port: /readyz gates traffic, /healthz restarts it. */}}
{{- define "tidewire.probes" -}}
readinessProbe:
  httpGet: {path: /readyz, port: http}
  # Longer than the handlers' own waits on Kafka and Redis (3 s each, one after the other).
  timeoutSeconds: 8
  periodSeconds: 5
  failureThreshold: 3
livenessProbe:
  httpGet: {path: /healthz, port: http}
  timeoutSeconds: 5
  periodSeconds: 10
  failureThreshold: 6
startupProbe:
  httpGet: {path: /healthz, port: http}
  timeoutSeconds: 5
  periodSeconds: 2
  failureThreshold: 60
{{- end -}}

{{/* Refuse settings that would break a guarantee, at render time rather than in production. */}}
{{- define "tidewire.validate" -}}
{{- if and (not .Values.jwt.secret) (not .Values.jwt.existingSecret) -}}
{{- fail "set jwt.secret or jwt.existingSecret: tokens need a key of at least 32 characters" -}}
{{- end -}}
{{- if and .Values.jwt.secret (lt (len .Values.jwt.secret) 32) -}}
{{- fail "jwt.secret must be at least 32 characters" -}}
{{- end -}}
{{- if and .Values.jwt.adminSecret (lt (len .Values.jwt.adminSecret) 32) -}}
{{- fail "jwt.adminSecret must be at least 32 characters" -}}
{{- end -}}
{{- if and .Values.jwt.adminSecret (eq .Values.jwt.adminSecret .Values.jwt.secret) -}}
{{- fail "jwt.adminSecret must differ from jwt.secret" -}}
{{- end -}}
{{- with .Values.gateway -}}
{{- $families := list "community" "saas1" "ticketz" "plus" -}}
{{- if and .family (not (has .family $families)) -}}
{{- fail (printf "gateway.family %q is not a helpdesk family tidewire speaks: community, saas1, ticketz or plus (empty: platform mode)" .family) -}}
{{- end -}}
{{- if and .family (ne .family "ticketz") (not .jwtSecret) (not .existingSecret) -}}
{{- fail (printf "gateway.family=%s checks the helpdesk's own tokens: set gateway.jwtSecret or gateway.existingSecret (its backend's JWT_SECRET; only ticketz can read it from its Redis)" .family) -}}
{{- end -}}
{{- if and (eq .family "plus") (not (contains "{company}" .namespacePattern)) -}}
{{- fail (printf "gateway.namespacePattern %q must contain {company}, where the company's id goes" .namespacePattern) -}}
{{- end -}}
{{- if and .backend.service (not .family) -}}
{{- fail "gateway.backend.service is gateway mode's one-URL ingress: set gateway.family too (platform mode serves /api from ingest on that host)" -}}
{{- end -}}
{{- if and .backend.service (not .backend.port) -}}
{{- fail "gateway.backend.port is empty: give the port (number or name) of gateway.backend.service" -}}
{{- end -}}
{{- if and .backend.service (not $.Values.ingress.enabled) -}}
{{- fail "gateway.backend.service routes the helpdesk's URL through the chart's ingress: set ingress.enabled=true" -}}
{{- end -}}
{{- end -}}
{{- if gt (int .Values.projector.replicas) (int .Values.partitions) -}}
{{- fail (printf "projector.replicas (%d) above partitions (%d): the extra processes would get no partition" (int .Values.projector.replicas) (int .Values.partitions)) -}}
{{- end -}}
{{- if gt (int .Values.outbound.replicas) (int .Values.partitions) -}}
{{- fail (printf "outbound.replicas (%d) above partitions (%d): the extra processes would get no partition" (int .Values.outbound.replicas) (int .Values.partitions)) -}}
{{- end -}}
{{- end -}}

{{/* Where the engines are and how topics and keyspace are laid out: every process and the
migration job read the same values. */}}
{{- define "tidewire.stackSettings" -}}
TIDEWIRE_HOME: /var/lib/tidewire
TIDEWIRE_KAFKA_HOST: {{ .Values.kafka.host | quote }}
TIDEWIRE_KAFKA_PORT: {{ .Values.kafka.port | quote }}
TIDEWIRE_KAFKA_REPLICATION_FACTOR: {{ .Values.kafka.replicationFactor | quote }}
TIDEWIRE_CASSANDRA_HOST: {{ .Values.cassandra.host | quote }}
TIDEWIRE_CASSANDRA_PORT: {{ .Values.cassandra.port | quote }}
TIDEWIRE_CASSANDRA_KEYSPACE: {{ .Values.cassandra.keyspace | quote }}
TIDEWIRE_CASSANDRA_LOCAL_DC: {{ .Values.cassandra.localDc | quote }}
TIDEWIRE_CASSANDRA_REPLICATION: {{ .Values.cassandra.replication | default (printf "{'class': 'NetworkTopologyStrategy', '%s': %d}" .Values.cassandra.localDc (int .Values.cassandra.replicationFactor)) | quote }}
TIDEWIRE_REDIS_HOST: {{ .Values.redis.host | quote }}
TIDEWIRE_REDIS_PORT: {{ .Values.redis.port | quote }}
TIDEWIRE_TOPIC_PREFIX: {{ .Values.topicPrefix | quote }}
TIDEWIRE_PARTITIONS: {{ .Values.partitions | quote }}
TIDEWIRE_EVENTS_RETENTION_MS: {{ .Values.eventsRetentionMs | int64 | quote }}
{{- end -}}

{{/* A Kubernetes memory quantity ("1Gi", "512Mi", "1G", "1073741824") in bytes. */}}
{{- define "tidewire.bytes" -}}
{{- $q := toString . -}}
{{- $units := dict "Ki" 1024 "Mi" 1048576 "Gi" 1073741824 "Ti" 1099511627776 "k" 1000 "K" 1000 "M" 1000000 "G" 1000000000 "T" 1000000000000 -}}
{{- $n := regexFind "^[0-9]+" $q -}}
{{- $unit := trimPrefix $n $q -}}
{{- if not $n -}}
{{- fail (printf "memory quantity %q: not a whole number of bytes, Ki, Mi, Gi, Ti, k, M, G or T" $q) -}}
{{- else if not $unit -}}
{{- $n -}}
{{- else if hasKey $units $unit -}}
{{- mul (atoi $n) (get $units $unit) -}}
{{- else -}}
{{- fail (printf "memory quantity %q: not a whole number of bytes, Ki, Mi, Gi, Ti, k, M, G or T" $q) -}}
{{- end -}}
{{- end -}}

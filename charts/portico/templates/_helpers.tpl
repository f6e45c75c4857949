{{/* Chart name, truncated to 63 characters (a DNS label). */}}
{{- define "portico.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Full name: the release name, or release-chart when they differ. */}}
{{- define "portico.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "portico.selectorLabels" -}}
app.kubernetes.io/name: {{ include "portico.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "portico.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "portico.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/part-of: portico
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{- define "portico.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "portico.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "portico.leaseNamespace" -}}
{{- default .Release.Namespace .Values.leaderElection.namespace -}}
{{- end -}}

{{- define "portico.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}
{{- end -}}

{{/* Addresses of the listeners with the given protocol, comma-separated: HTTP → PORTICO_LISTEN, HTTPS → PORTICO_TLS_LISTEN. */}}
{{- define "portico.listen" -}}
{{- $out := list -}}
{{- range .root.Values.listeners -}}
{{- if eq (.protocol | default "HTTP") $.protocol -}}
{{- $out = append $out (printf "%s:%d" .address (int .port)) -}}
{{- end -}}
{{- end -}}
{{- join "," $out -}}
{{- end -}}

{{/* "true" when some port needs NET_BIND_SERVICE (below 1024). */}}
{{- define "portico.privilegedPorts" -}}
{{- $low := lt (int .Values.admin.port) 1024 -}}
{{- range .Values.listeners -}}
{{- if lt (int .port) 1024 -}}{{- $low = true -}}{{- end -}}
{{- end -}}
{{- ternary "true" "false" $low -}}
{{- end -}}

{{/* The container securityContext, allowPrivilegeEscalation resolved (see values.yaml). */}}
{{- define "portico.securityContext" -}}
{{- $sc := omit .Values.securityContext "allowPrivilegeEscalation" -}}
{{- $ape := .Values.securityContext.allowPrivilegeEscalation -}}
{{- if kindIs "invalid" $ape -}}
{{- $ape = eq (include "portico.privilegedPorts" .) "true" -}}
{{- end -}}
{{- $_ := set $sc "allowPrivilegeEscalation" $ape -}}
{{- toYaml $sc -}}
{{- end -}}

{{/* The handover wait in seconds: only with hostNetwork, where successors share the node's ports. */}}
{{- define "portico.handoverWait" -}}
{{- if .Values.hostNetwork }}{{ int .Values.handoverWaitSeconds }}{{ else }}0{{ end -}}
{{- end -}}

{{/* Host for the probes: empty (the pod IP) unless the admin listener binds one address. */}}
{{- define "portico.probeHost" -}}
{{- $a := .Values.admin.address -}}
{{- if and $a (ne $a "0.0.0.0") (ne $a "[::]") (ne $a "::") -}}
{{- trimPrefix "[" (trimSuffix "]" $a) -}}
{{- end -}}
{{- end -}}

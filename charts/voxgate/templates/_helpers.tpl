{{/*
Helpers of the voxgate chart. Every name is prefixed "voxgate." so that no parent chart's helper
can collide with them.
*/}}

{{/*
The base name of every object: <release>-voxgate, or <release> when it already says voxgate.
40 characters at most, so that suffixes (-broker, -webhook, -audit-...) and StatefulSet pod
names (<name>-<ordinal>, with a controller-revision-hash label) stay within 63.
*/}}
{{- define "voxgate.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 40 | trimSuffix "-" -}}
{{- else if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 40 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{/*
app.kubernetes.io/name is always "voxgate": the NetworkPolicy the operator gives every training
job allows egress to pods with this label in the operator's namespace (the key broker).
*/}}
{{- define "voxgate.name" -}}
voxgate
{{- end -}}

{{- define "voxgate.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* The labels that select the operator pods; never change them (selectors are immutable). */}}
{{- define "voxgate.selectorLabels" -}}
app.kubernetes.io/name: {{ include "voxgate.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: operator
{{- end -}}

{{/* The recommended labels (kubernetes.io/docs/concepts/overview/working-with-objects/common-labels). */}}
{{- define "voxgate.labels" -}}
helm.sh/chart: {{ include "voxgate.chart" . }}
app.kubernetes.io/name: {{ include "voxgate.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: voxgate
{{- end -}}

{{- define "voxgate.serviceAccountName" -}}
{{- include "voxgate.fullname" . -}}
{{- end -}}

{{/* The operator's identity as the API server sees it (webhook matchConditions, the backstop). */}}
{{- define "voxgate.serviceAccountUsername" -}}
{{- printf "system:serviceaccount:%s:%s" .Release.Namespace (include "voxgate.serviceAccountName" .) -}}
{{- end -}}

{{- define "voxgate.image" -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- end -}}

{{- define "voxgate.opaImage" -}}
{{- printf "%s:%s@%s" .Values.opa.image.repository .Values.opa.image.tag .Values.opa.image.digest -}}
{{- end -}}

{{/* The all-zero digest of values.yaml: a placeholder that never pulls. */}}
{{- define "voxgate.placeholderDigest" -}}
sha256:0000000000000000000000000000000000000000000000000000000000000000
{{- end -}}

{{/* Services. */}}
{{- define "voxgate.brokerService" -}}
{{- printf "%s-broker" (include "voxgate.fullname" .) -}}
{{- end -}}

{{- define "voxgate.webhookService" -}}
{{- printf "%s-webhook" (include "voxgate.fullname" .) -}}
{{- end -}}

{{- define "voxgate.metricsService" -}}
{{- printf "%s-metrics" (include "voxgate.fullname" .) -}}
{{- end -}}

{{/* The Lease whose holder is the leader, the one replica that reconciles. */}}
{{- define "voxgate.leaseName" -}}
{{- printf "%s-operator" (include "voxgate.fullname" .) -}}
{{- end -}}

{{- define "voxgate.podsService" -}}
{{- printf "%s-pods" (include "voxgate.fullname" .) -}}
{{- end -}}

{{/* What training pods call to get their data keys. */}}
{{- define "voxgate.brokerURL" -}}
{{- printf "https://%s.%s.svc:%d" (include "voxgate.brokerService" .) .Release.Namespace (int .Values.ports.broker) -}}
{{- end -}}

{{/* The Secret holding the serving certificate (tls.crt, tls.key) and its CA (ca.crt). */}}
{{- define "voxgate.tlsSecret" -}}
{{- printf "%s-tls" (include "voxgate.fullname" .) -}}
{{- end -}}

{{/* The DNS names the serving certificate is valid for: both Services, short and long forms. */}}
{{- define "voxgate.tlsDNSNames" -}}
{{- $ns := .Release.Namespace -}}
{{- $names := list -}}
{{- range $service := list (include "voxgate.webhookService" .) (include "voxgate.brokerService" .) -}}
{{- $names = append $names (printf "%s.%s.svc" $service $ns) -}}
{{- $names = append $names (printf "%s.%s.svc.cluster.local" $service $ns) -}}
{{- end -}}
{{- toJson $names -}}
{{- end -}}

{{/*
ConfigMap key of a policy bundle file: its path below files/policies/ with "/" spelled "__"
(ConfigMap keys cannot contain "/"). The pod mounts every key back at its path.
*/}}
{{- define "voxgate.policyKey" -}}
{{- trimPrefix "files/policies/" . | replace "/" "__" -}}
{{- end -}}

{{/* Where the audit trail lives in the operator container. */}}
{{- define "voxgate.auditDir" -}}
/var/lib/voxgate/audit
{{- end -}}

{{- define "voxgate.tlsDir" -}}
/etc/voxgate/tls
{{- end -}}

{{/*
One webhook of a Mutating- or ValidatingWebhookConfiguration (webhooks.yaml). Takes a dict:
root (the chart context), path (the webhook id, also its URL path), rule (list of resources,
list of operations), extra (fields only one kind of configuration has), defaults, caBundle.
*/}}
{{- define "voxgate.webhook" -}}
{{- $root := .root -}}
{{- $clientConfig := dict "service" (dict "namespace" $root.Release.Namespace "name" (include "voxgate.webhookService" $root) "port" 443 "path" (printf "/%s" .path)) -}}
{{- if .caBundle }}
{{- $_ := set $clientConfig "caBundle" .caBundle -}}
{{- end }}
{{- $rules := list (dict "apiGroups" (list "voxgate.io") "apiVersions" (list "v1alpha1") "resources" (index .rule 0) "operations" (index .rule 1) "scope" "Namespaced") -}}
{{- $webhook := merge (dict "name" (printf "%s.voxgate.io" .path) "clientConfig" $clientConfig "rules" $rules) .extra (deepCopy .defaults) -}}
{{- toYaml $webhook -}}
{{- end -}}

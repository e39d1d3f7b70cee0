{{/* Names and labels shared by every template. */}}

{{- define "modelarts-operator.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "modelarts-operator.fullname" -}}
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

{{- define "modelarts-operator.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "modelarts-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "modelarts-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* The operator pod only (the uninstall guard Job's pod must not match the metrics Service). */}}
{{- define "modelarts-operator.operatorSelectorLabels" -}}
{{ include "modelarts-operator.selectorLabels" . }}
app.kubernetes.io/component: operator
{{- end }}

{{- define "modelarts-operator.labels" -}}
helm.sh/chart: {{ include "modelarts-operator.chart" . }}
{{ include "modelarts-operator.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: modelarts
{{- end }}

{{- define "modelarts-operator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "modelarts-operator.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "modelarts-operator.image" -}}
{{- $tag := default .Chart.AppVersion .Values.image.tag }}
{{- if .Values.image.digest }}
{{- printf "%s:%s@%s" .Values.image.repository $tag .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository $tag }}
{{- end }}
{{- end }}

{{/*
The ServiceAccount token, mounted explicitly (pods set automountServiceAccountToken: false, so an injected sidecar
gets none): the three files the kubelet would mount, at the standard path. A bound token that the kubelet rotates
(the operator re-reads it), the cluster CA and the namespace.
*/}}
{{- define "modelarts-operator.kubeApiAccessVolume" -}}
- name: kube-api-access
  projected:
    defaultMode: 420  # 0644, the kubelet's own default
    sources:
      - serviceAccountToken:
          path: token
          expirationSeconds: {{ .Values.serviceAccount.tokenExpirationSeconds }}
      - configMap:
          name: kube-root-ca.crt
          items:
            - key: ca.crt
              path: ca.crt
      - downwardAPI:
          items:
            - path: namespace
              fieldRef:
                fieldPath: metadata.namespace
{{- end }}

{{- define "modelarts-operator.kubeApiAccessMount" -}}
- name: kube-api-access
  mountPath: /var/run/secrets/kubernetes.io/serviceaccount
  readOnly: true
{{- end }}

{{/*
What the operator may do with ModelArtsPools, their status, Events and credential Secrets in the namespaces it
watches. Keep in step with the operator's API calls: the e2e test runs the operator with exactly these rules.
*/}}
{{- define "modelarts-operator.namespacedRules" -}}
# kopf lists and watches the objects, and patches them (finalizer, annotations it keeps its state in).
- apiGroups: ["modelarts.operator.dev"]
  resources: ["modelartspools"]
  verbs: ["get", "list", "watch", "patch"]
- apiGroups: ["modelarts.operator.dev"]
  resources: ["modelartspools/status"]
  verbs: ["patch"]
# Events on the objects (kopf posts core/v1 Events; events.k8s.io for clients that use the newer API).
- apiGroups: [""]
  resources: ["events"]
  verbs: ["create"]
- apiGroups: ["events.k8s.io"]
  resources: ["events"]
  verbs: ["create"]
{{- if .Values.tenancy.tenantSecrets }}
# The team's own Secret named in spec.credentialsSecretRef (tenancy.tenantSecrets), read by name: "get" only,
# never "list" or "watch"; the operator uses it only if it is labelled modelarts.operator.dev/credentials=true.
- apiGroups: [""]
  resources: ["secrets"]
  verbs: ["get"]
  {{- with .Values.tenancy.tenantSecretNames }}
  resourceNames: {{ toJson . }}
  {{- end }}
{{- end }}
{{- end }}

{{/* The namespaces holding ModelArtsProjects' Secrets (default: the release namespace). */}}
{{- define "modelarts-operator.projectSecretNamespaces" -}}
{{- if .Values.tenancy.projectSecretNamespaces }}{{ toJson .Values.tenancy.projectSecretNamespaces }}{{ else }}{{ list .Release.Namespace | toJson }}{{ end }}
{{- end }}

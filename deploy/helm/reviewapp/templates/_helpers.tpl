{{- define "reviewapp.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 50 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 50 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "reviewapp.labels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "reviewapp.selector" -}}
app.kubernetes.io/name: {{ .root.Chart.Name }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "reviewapp.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}

{{/* The environment every process shares: the app Secret, then plain settings (they win).
     It ends with the env list, so a template may append entries of its own right after it. */}}
{{- define "reviewapp.env" -}}
envFrom:
  - secretRef:
      name: {{ .Values.secrets.app }}
env:
{{- range $name, $value := .Values.env }}
  - name: {{ $name }}
    value: {{ $value | quote }}
{{- end }}
  - name: REVIEWAPP_VAR_DIR
    value: /data
  - name: MEDIA_ROOT
    value: /data/media
{{- if eq .Values.storage.kind "s3" }}
{{- $s3 := .Values.storage.s3 }}
  - name: REVIEWAPP_STORAGE
    value: s3
  - name: S3_BUCKET
    value: {{ required "storage.s3.bucket is required with storage.kind s3" $s3.bucket | quote }}
  - name: S3_ENDPOINT_URL
    value: {{ $s3.endpointUrl | quote }}
  - name: S3_REGION
    value: {{ $s3.region | quote }}
  - name: S3_PREFIX
    value: {{ $s3.prefix | quote }}
  - name: S3_ADDRESSING_STYLE
    value: {{ $s3.addressingStyle | quote }}
  - name: REVIEWAPP_PRESIGNED_DOWNLOADS
    value: {{ $s3.presignedDownloads | quote }}
  - name: REVIEWAPP_PRESIGNED_DOWNLOAD_SECONDS
    value: {{ $s3.presignedDownloadSeconds | quote }}
{{- else if ne .Values.storage.kind "local" }}
{{- fail "storage.kind must be local or s3" }}
{{- end }}
{{- end -}}

{{- define "reviewapp.dataVolume" -}}
- name: data
{{- if .Values.data.existingClaim }}
  persistentVolumeClaim:
    claimName: {{ .Values.data.existingClaim }}
{{- else }}
  emptyDir: {}
{{- end }}
{{- end -}}

{{- define "reviewapp.podSpecCommon" -}}
serviceAccountName: {{ include "reviewapp.fullname" . }}
automountServiceAccountToken: false
securityContext:
  {{- toYaml .Values.podSecurityContext | nindent 2 }}
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

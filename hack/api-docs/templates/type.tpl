{{- /* One type: its doc, its own validation, where it is used, its fields or values. */ -}}
{{- define "type" -}}
{{- $type := . -}}
### {{ $type.Name }}
{{- with $type.Doc }}

{{ . }}
{{- end }}
{{- if $type.IsAlias }}

_Underlying type:_ {{ markdownRenderTypeLink $type.UnderlyingType }}
{{- end }}
{{- $rules := index $type.Markers "kubebuilder:validation:XValidation" }}
{{- if and (not $type.EnumValues) (or $type.Validation $rules) }}

_Validation:_
{{ range $type.Validation }}
- {{ template "rule" . }}
{{- end }}
{{- range $rules }}
- {{ markdownRenderFieldDoc .Message }}
{{- end }}
{{- end }}
{{- with $type.SortedReferences }}

_Appears in:_ {{ range $i, $ref := . }}{{ if $i }}, {{ end }}{{ markdownRenderTypeLink $ref }}{{ end }}
{{- end }}
{{- with $type.Members }}

| Field | Description | Validation |
| --- | --- | --- |
{{- if $type.GVK }}
| `apiVersion` _string_ | `{{ $type.GVK.Group }}/{{ $type.GVK.Version }}` | |
| `kind` _string_ | `{{ $type.GVK.Kind }}` | |
{{- end }}
{{- range . }}
| `{{ .Name }}` _{{ markdownRenderType .Type }}_ | {{ template "doc" . }} | {{ template "fieldRules" . }} |
{{- end }}
{{- end }}
{{- with $type.EnumValues }}
{{- $documented := false }}
{{- range . }}{{ if .Doc }}{{ $documented = true }}{{ end }}{{ end }}
{{- if $documented }}

| Value | Description |
| --- | --- |
{{- range . }}
| `{{ .Name }}` | {{ template "valueDoc" . }} |
{{- end }}
{{- else }}

_Values:_ {{ range $i, $v := . }}{{ if $i }}, {{ end }}`{{ $v.Name }}`{{ end }}
{{- end }}
{{- end }}
{{- end -}}

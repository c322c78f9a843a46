{{- /*
Table cells. A doc comment is wrapped at 80 columns in Go: its lines are
joined so a cell reads as a paragraph, and only blank lines break it.
*/ -}}
{{- define "doc" -}}
{{- if .Doc -}}
{{ .Doc | trim | replace "\n\n" "\u2029" | replace "\n" " " | markdownRenderFieldDoc | replace "\u2029" "<br /><br />" }}
{{- else if eq .Name "metadata" -}}
The object's metadata; see the Kubernetes API reference.
{{- end -}}
{{- end -}}

{{- /* A named value's doc, without the "ConstName: " its comment starts with. */ -}}
{{- define "valueDoc" -}}
{{ regexReplaceAll "^[A-Za-z0-9]+: " (.Doc | trim) "" | replace "\n" " " | markdownRenderFieldDoc }}
{{- end -}}

{{- /* One validation marker, as "MaxLength: 64"; the empty value of Required and Optional is left out. */ -}}
{{- define "rule" -}}
{{ . | replace ": {}" "" | markdownRenderFieldDoc }}
{{- end -}}

{{- /* A field's default, its validation markers and the messages of its CEL rules. */ -}}
{{- define "fieldRules" -}}
{{- $cells := list }}
{{- with .Default }}{{ $cells = append $cells (printf "Default: `%s`" .) }}{{ end }}
{{- range .Validation }}{{ $cells = append $cells (. | replace ": {}" "" | markdownRenderFieldDoc) }}{{ end }}
{{- range index .Markers "kubebuilder:validation:XValidation" }}{{ $cells = append $cells (markdownRenderFieldDoc .Message) }}{{ end }}
{{- join "<br />" $cells -}}
{{- end -}}

{{- /*
One group-version in reading order: each kind followed by its spec and
status, then every other type by name. Named string types that no field
refers to (the words of status.runStateReason) are kept: their doc comments
say where they appear.
*/ -}}
{{- define "gvDetails" -}}
{{- $gv := . -}}
## {{ $gv.GroupVersionString }}

{{ $gv.Doc | trim }}
{{- $shown := dict }}
{{- range $gv.SortedKinds }}
{{- range list . (printf "%sSpec" .) (printf "%sStatus" .) }}
{{- with index $gv.Types . }}
{{- $_ := set $shown .Name true }}

{{ template "type" . }}
{{- end }}
{{- end }}
{{- end }}
{{- range $gv.SortedTypes }}
{{- if and (not (hasKey $shown .Name)) (or (markdownShouldRenderType .) .EnumValues) }}

{{ template "type" . }}
{{- end }}
{{- end }}
{{- end -}}

package analysis

import (
	"fmt"
	"html/template"
	"io"
	"sort"
)

var reportTemplate = template.Must(template.New("index").Funcs(template.FuncMap{
	"verdict": func(holds bool) string {
		if holds {
			return "holds"
		}
		return "does not hold"
	},
	"evidence": func(ev map[string]any) []string {
		keys := make([]string, 0, len(ev))
		for k := range ev {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		out := make([]string, 0, len(keys))
		for _, k := range keys {
			out = append(out, fmt.Sprintf("%s: %s", k, compactJSON(ev[k])))
		}
		return out
	},
}).Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>esp report: extreme overfitting points</title>
<style>
body { font-family: sans-serif; max-width: 70rem; margin: 2rem auto; padding: 0 1rem; color: #222; }
table { border-collapse: collapse; margin: 1rem 0; font-size: 0.9rem; }
th, td { border: 1px solid #ccc; padding: 0.3rem 0.5rem; text-align: left; vertical-align: top; }
th { background: #f3f3f3; }
.holds { color: #176117; font-weight: bold; }
.fails { color: #a11; font-weight: bold; }
figure { margin: 1.5rem 0; }
figure img { max-width: 100%; border: 1px solid #ddd; }
figcaption { font-size: 0.9rem; color: #555; }
details { font-size: 0.85rem; }
</style>
</head>
<body>
<h1>Extreme overfitting points: report</h1>
<p>Generated {{.Summary.Generated.Format "2006-01-02 15:04 UTC"}} from <code>{{.Summary.Input}}</code>:
{{.Summary.Runs}} runs, {{.Summary.Probes}} probes. The numbers are also in <a href="summary.json">summary.json</a>.</p>

<h2>The paper's claims</h2>
<table id="claims">
<tr><th>claim</th><th>dataset</th><th>model</th><th>verdict</th><th>evidence</th></tr>
{{range .Summary.Claims}}<tr><td><b>{{.ID}}</b> {{.Text}}</td><td>{{.Dataset}}</td><td>{{.Model}}</td>
<td class="{{if .Holds}}holds{{else}}fails{{end}}">{{verdict .Holds}}{{with index .Evidence "outcome"}}<br><small>{{.}}</small>{{end}}</td>
<td><details><summary>{{index .Evidence "criterion"}}</summary><ul>{{range evidence .Evidence}}<li><code>{{.}}</code></li>{{end}}</ul></details></td></tr>
{{end}}</table>
{{if .Summary.Untested}}<p>Not tested with these inputs:</p><ul>
{{range .Summary.Untested}}<li><b>{{.ID}}</b> {{.Dataset}} {{.Model}}: {{.Reason}}</li>{{end}}</ul>{{end}}

{{range .Tables}}<h2>{{.Title}}</h2>
{{$long := gt (len .Rows) 12}}{{if $long}}<details><summary>{{len .Rows}} rows</summary>{{end}}
<table>
<tr>{{range .Header}}<th>{{.}}</th>{{end}}</tr>
{{range .Rows}}<tr>{{range .}}<td>{{.}}</td>{{end}}</tr>{{end}}
</table>
{{if $long}}</details>{{end}}
{{end}}

<h2>Figures</h2>
{{range .Figures}}<figure id="{{.Name}}">
<img src="{{.Name}}.png" alt="{{.Title}}">
<figcaption>{{.Title}}. {{.Caption}} <a href="{{.Name}}.svg">SVG</a></figcaption>
</figure>
{{end}}
<script>
// For automated checks: how many figures loaded.
window.addEventListener("load", function () {
  var imgs = document.querySelectorAll("figure img");
  var ok = 0;
  imgs.forEach(function (img) { if (img.complete && img.naturalWidth > 0) ok++; });
  document.body.setAttribute("data-figures", imgs.length);
  document.body.setAttribute("data-figures-loaded", ok);
});
</script>
</body>
</html>
`))

func (rep *Report) writeHTML(w io.Writer) error {
	if err := reportTemplate.Execute(w, rep); err != nil {
		return fmt.Errorf("report: index.html: %w", err)
	}
	return nil
}

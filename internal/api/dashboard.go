package api

import (
	"embed"
	"io/fs"
	"net/http"

	"github.com/cxpulse/cxpulse/internal/serve"
)

// The dashboard is a static page that reads the API: HTML, CSS and
// JavaScript embedded in the binary with uPlot (MIT, vendored from npm
// uplot 1.6.32) for the charts, so it works offline.
//
//go:embed dashboard
var dashboardFiles embed.FS

func dashboardFS() http.Handler {
	sub, err := fs.Sub(dashboardFiles, "dashboard")
	if err != nil {
		panic(err) // the embedded tree is fixed at build time
	}
	files := http.StripPrefix("/assets/", http.FileServer(http.FS(sub)))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Security-Policy", serve.PagePolicy)
		files.ServeHTTP(w, r)
	})
}

func handleDashboard(w http.ResponseWriter, _ *http.Request) {
	b, err := dashboardFiles.ReadFile("dashboard/index.html")
	if err != nil {
		serve.Error(w, http.StatusInternalServerError, err)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-cache")
	w.Header().Set("Content-Security-Policy", serve.PagePolicy)
	_, _ = w.Write(b)
}

package loadgen

import (
	"fmt"
	"math"
	"os"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// WritePlot writes a PNG of the run over time to path: on top, each path's
// p50 (solid) and p99 (dashed) latency per second, by when the request was
// due, on a log scale; below, each path's completions per second.
func WritePlot(path string, s *Summary) error {
	if len(s.Paths) == 0 {
		return fmt.Errorf("plot: the run measured nothing")
	}
	lat := plot.New()
	lat.Title.Text = plotTitle(s)
	lat.Y.Label.Text = "latency (ms)"
	lat.Y.Scale = plot.LogScale{}
	lat.Y.Tick.Marker = plot.LogTicks{Prec: -1}
	lat.X.Label.Text = "p50 (solid) and p99 (dashed) of the requests due in each second, log scale"
	lat.Add(plotter.NewGrid())

	thr := plot.New()
	thr.Y.Label.Text = "completed / s"
	thr.X.Label.Text = "seconds since start"
	thr.Legend.Top, thr.Legend.Left = false, true
	thr.Add(plotter.NewGrid())

	lo, hi := math.Inf(1), 0.0
	for i, p := range s.Paths {
		pts := s.Series[p.Name]
		var p50, p99, done plotter.XYs
		for _, pt := range pts {
			x := float64(pt.Second) + 0.5
			if pt.P50Ms > 0 {
				p50 = append(p50, plotter.XY{X: x, Y: pt.P50Ms})
				lo = min(lo, pt.P50Ms)
			}
			if pt.P99Ms > 0 {
				p99 = append(p99, plotter.XY{X: x, Y: pt.P99Ms})
				hi = max(hi, pt.P99Ms)
			}
			done = append(done, plotter.XY{X: x, Y: float64(pt.Done)})
		}
		c := plotutil.Color(i)
		if len(p50) > 0 {
			l, err := plotter.NewLine(p50)
			if err != nil {
				return fmt.Errorf("plot: %w", err)
			}
			l.Color, l.Width = c, vg.Points(1.5)
			lat.Add(l)
		}
		if len(p99) > 0 {
			l, err := plotter.NewLine(p99)
			if err != nil {
				return fmt.Errorf("plot: %w", err)
			}
			l.Color, l.Width, l.Dashes = c, vg.Points(1), []vg.Length{vg.Points(4), vg.Points(3)}
			lat.Add(l)
		}
		if len(done) > 0 {
			l, err := plotter.NewLine(done)
			if err != nil {
				return fmt.Errorf("plot: %w", err)
			}
			l.Color, l.Width = c, vg.Points(1.5)
			thr.Add(l)
			thr.Legend.Add(p.Name, l)
		}
	}
	if hi > 0 {
		// Whole decades, so the log axis gets labelled ticks.
		lat.Y.Min = math.Pow(10, math.Floor(math.Log10(lo)))
		lat.Y.Max = math.Pow(10, math.Ceil(math.Log10(hi)))
	}
	thr.Y.Min = 0
	if s.WarmupSeconds > 0 {
		thr.X.Label.Text += fmt.Sprintf(" (the first %gs are warm-up, not in the summary)", s.WarmupSeconds)
	}
	xmax := max(lat.X.Max, thr.X.Max)
	lat.X.Min, thr.X.Min, lat.X.Max, thr.X.Max = 0, 0, xmax, xmax

	const width, height = 26 * vg.Centimeter, 20 * vg.Centimeter
	img := vgimg.New(width, height)
	dc := draw.New(img)
	tiles := draw.Tiles{Rows: 2, Cols: 1, PadTop: vg.Points(4), PadBottom: vg.Points(4), PadLeft: vg.Points(4), PadRight: vg.Points(8), PadY: vg.Points(12)}
	lat.Draw(tiles.At(dc, 0, 0))
	thr.Draw(tiles.At(dc, 0, 1))

	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("plot: %w", err)
	}
	if _, err := (vgimg.PngCanvas{Canvas: img}).WriteTo(f); err != nil {
		f.Close()
		return fmt.Errorf("plot: %w", err)
	}
	return f.Close()
}

func plotTitle(s *Summary) string {
	var parts []string
	st := s.Settings
	if st.Rate > 0 {
		parts = append(parts, fmt.Sprintf("%g msg/s", st.Rate))
	}
	if st.ReplyRate > 0 {
		parts = append(parts, fmt.Sprintf("%g replies/s", st.ReplyRate))
	}
	if st.PageViewRate > 0 {
		parts = append(parts, fmt.Sprintf("%g page views/s", st.PageViewRate))
	}
	if st.Concurrency > 0 {
		parts = append(parts, fmt.Sprintf("%d writers", st.Concurrency))
	}
	if st.Conversations > 0 {
		parts = append(parts, fmt.Sprintf("%d conversations", st.Conversations))
	}
	if st.Conns > 0 {
		parts = append(parts, fmt.Sprintf("%d connections", st.Conns))
	}
	return fmt.Sprintf("chatbridge bench %s: %s (load avg %s, %s)", s.Mode, strings.Join(parts, ", "), s.LoadAvgStart, s.Started.Format("2006-01-02 15:04 UTC"))
}

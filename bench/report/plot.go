package main

import (
	"fmt"
	"image/color"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// colors keeps one colour per system across charts.
var colors = map[string]color.Color{
	"etcd-txn":   color.RGBA{0x4c, 0x72, 0xb0, 0xff},
	"cluster":    color.RGBA{0xdd, 0x84, 0x52, 0xff},
	"node":       color.RGBA{0x55, 0xa8, 0x68, 0xff},
	"host-local": color.RGBA{0xc4, 0x4e, 0x52, 0xff},
}

// writePNG draws two grouped bar charts side by side: allocations per second by concurrency, and the cost
// of an allocation + release by fill level.
func writePNG(path string, r *results) error {
	rate, err := groupedBars(r, "Allocations per second (higher is better)", "allocs/s", rateSystems, rateClients,
		func(sys, c string) (float64, bool) { return r.get(rateName(sys, c), "allocs/s") }, "clients", false)
	if err != nil {
		return err
	}
	fill, err := groupedBars(r, "ADD+DEL cost by range fill (lower is better)", "ms per ADD+DEL", fillSystems, fillLevels,
		func(sys, p string) (float64, bool) {
			v, ok := r.get(fillName(sys, p), "ns/op")
			return v / 1e6, ok
		}, "% full", false)
	if err != nil {
		return err
	}
	const w, h = 12 * vg.Inch, 4.5 * vg.Inch
	img := vgimg.New(w, h)
	dc := draw.New(img)
	tiles := draw.Tiles{Rows: 1, Cols: 2, PadX: vg.Millimeter * 4, PadTop: vg.Millimeter * 2, PadBottom: vg.Millimeter * 2}
	canvases := plot.Align([][]*plot.Plot{{rate, fill}}, tiles, dc)
	rate.Draw(canvases[0][0])
	fill.Draw(canvases[0][1])
	return saveImage(path, img)
}

func groupedBars(r *results, title, ylabel string, systems, groups []string, value func(sys, g string) (float64, bool), xlabel string, log bool) (*plot.Plot, error) {
	p := plot.New()
	p.Title.Text = title
	p.Y.Label.Text = ylabel
	p.X.Label.Text = xlabel
	if log {
		p.Y.Scale = plot.LogScale{}
		p.Y.Tick.Marker = plot.LogTicks{Prec: -1}
	}
	width := vg.Points(14)
	present := 0
	for _, sys := range systems {
		if _, ok := value(sys, groups[0]); ok {
			present++
		}
	}
	k := 0
	for _, sys := range systems {
		vals := make(plotter.Values, len(groups))
		any := false
		for i, g := range groups {
			v, ok := value(sys, g)
			if ok {
				any = true
			}
			if log && v <= 0 {
				v = 1e-3
			}
			vals[i] = v
		}
		if !any {
			continue
		}
		bars, err := plotter.NewBarChart(vals, width)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", sys, err)
		}
		bars.Color = colors[sys]
		bars.LineStyle.Width = 0
		bars.Offset = vg.Length(float64(k)-float64(present-1)/2) * width
		p.Add(bars)
		p.Legend.Add(sys, bars)
		k++
	}
	p.Legend.Top = true
	p.NominalX(groups...)
	return p, nil
}

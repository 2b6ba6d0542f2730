package main

import (
	"errors"
	"os"

	"gonum.org/v1/plot/vg/vgimg"
)

func saveImage(path string, img *vgimg.Canvas) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := (vgimg.PngCanvas{Canvas: img}).WriteTo(f); err != nil {
		return errors.Join(err, f.Close())
	}
	return f.Close()
}

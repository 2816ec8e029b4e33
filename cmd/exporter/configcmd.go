package main

import (
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/atlas-snapshot-exporter/atlas-snapshot-exporter/internal/config"
)

// printConfig lists every variable with its default, its current value
// (secrets masked) and its meaning. It works on a bad configuration too, which
// is when it helps most: the problem is named on stderr after the table.
func printConfig(w, stderr io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "VARIABLE\tDEFAULT\tCURRENT\tMEANING")

	for _, v := range config.Vars {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", v.Name, dash(v.Default), dash(v.Current()), v.Meaning)
	}

	fmt.Fprintln(tw, "\nAny secret may be given as a file instead: NAME_FILE=/path.")

	if err := tw.Flush(); err != nil {
		return err
	}

	if _, err := config.Load(); err != nil {
		fmt.Fprintln(stderr, "problem:", err)
	}

	return nil
}

func dash(s string) string {
	if s == "" {
		return "-"
	}

	return s
}

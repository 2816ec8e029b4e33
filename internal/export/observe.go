package export

// Observer hears about passes as they go: the feed of the exporter's metrics
// and of the serve command's bookkeeping. Its methods are called from
// several goroutines, after the database has been told, and must return
// quickly.
type Observer interface {
	// RunStarted is called once the run's row exists.
	RunStarted(runID int64)
	// TargetFinished is called once per target outcome, failures included.
	TargetFinished(r TargetResult)
	// RunFinished is called once the run's outcome is recorded (or could
	// not be).
	RunFinished(r Result)
}

// Observe sets the Observer of the passes that start afterwards; nil stops
// observing. Call it before Run, not during one.
func (e *Exporter) Observe(o Observer) {
	e.obs = o
}

func (e *Exporter) observeStart(runID int64) {
	if e.obs != nil {
		e.obs.RunStarted(runID)
	}
}

func (e *Exporter) observeTarget(r TargetResult) {
	if e.obs != nil {
		e.obs.TargetFinished(r)
	}
}

func (e *Exporter) observeRun(r Result) {
	if e.obs != nil {
		e.obs.RunFinished(r)
	}
}

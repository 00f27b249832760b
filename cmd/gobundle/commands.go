package main

import "errors"

// Temporary during the first session: replaced by the real commands as the
// bundle package lands.
var errTODO = errors.New("not built yet")

type PackCmd struct{}

func (c *PackCmd) Run(e *env) error { return errTODO }

type InspectCmd struct{}

func (c *InspectCmd) Run(e *env) error { return errTODO }

type VerifyCmd struct{}

func (c *VerifyCmd) Run(e *env) error { return errTODO }

type UnpackCmd struct{}

func (c *UnpackCmd) Run(e *env) error { return errTODO }

// Pages whose only script is the behaviour of their forms (forms.js).
import { wireForms } from "./forms.js";

wireForms();

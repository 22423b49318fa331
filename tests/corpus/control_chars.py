"""An error message that carries terminal escape sequences to the instructor.

The line below is a syntax error, so the message quotes it: an OSC 52 clipboard write,
erase-line, a carriage return and a fake verdict, a one-character CSI and DEL. No
terminal line, grades.csv, report, summary or results.json may hold them raw.
"""
import keras

x = "]52;c;ZXZpbA==[2KGraded 10/10 31m" +

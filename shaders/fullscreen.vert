#version 330 core
// One triangle strip covering the screen; v_ndc is the fragment's position in -1..1, y up.
in vec2 in_pos;
out vec2 v_ndc;
void main() {
    v_ndc = in_pos;
    gl_Position = vec4(in_pos, 0.0, 1.0);
}
